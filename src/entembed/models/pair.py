"""Pair model: two embedding tables (left, right) scored by cosine or dot product, trained on positive
pairs against sampled negatives, with gradients written by hand and applied to touched rows only.

This is the reference book recommender (book and link tables, normalized dot, MSE on 1/-1) generalised:
logistic loss on 1/0 and BPR are offered too. No autograd: each step hands int32 id batches to the compiled
kernels in ``pair_kernel`` (per-sample gradients, then one optimizer update per touched row). That keeps an
epoch of 2.3M samples under a second on 2 cores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterator

import numpy as np
import torch
import numba
import torch.nn.functional as F

from ..data.bags import Bags
from ..data.negatives import SAMPLING, NegativeSampler
from ..data.pairs import Pairs, sorted_unique
from ..errors import InputError, check_positive_int
from ..evaluate import roc_auc
from ..vocab import Vocab
from . import pair_kernel as kernel
from .base import EmbeddingModel, default_epochs, register_model
from .pair_torch import TorchPairTask, parse_device

__all__ = ["PairConfig", "PairModel", "PairTask", "LOSSES", "SCORES", "PRESETS", "UPDATES", "default_batch_size"]

LOSSES = ("logistic", "mse", "bpr")
SCORES = ("dot", "cosine")
#: Named settings, measured for a purpose (``PairConfig.preset``; `entembed train pairs --preset NAME`).
#: "recommend": user -> item pairs ranked for recommendation (chosen on MovieLens-100K's validation split,
#: benchmarks/bench_nextitem.py); smaller tables, more negatives and weight decay of the touched rows.
#: It also ranks with each user's 3 latest items (``recent``), the blend chosen on the same validation split.
PRESETS = {"recommend": {"dim": 32, "negatives": 8, "l2": 0.003, "update": "minibatch", "recent": 3,
                         "recent_weight": 4.0}}
#: How a step updates the tables: "hogwild" updates rows per positive from every thread at once, without
#: locks (the default: about three times as fast, repeatable on one thread only); "minibatch" sums each row's
#: gradients over the batch in a fixed order and updates it once (the same vectors whatever the threads).
UPDATES = ("hogwild", "minibatch")


@dataclass
class PairConfig:
    """Settings of a pair model; defaults are the ones measured best on the planted books graph."""

    dim: int = 50                  # embedding size (the reference used 50)
    score: str = "dot"             # "dot" or "cosine" (the reference's normalized dot)
    loss: str = "logistic"         # "logistic" (labels 1/0), "mse" (labels 1/-1, the reference), "bpr"
    negatives: int = 2             # sampled negatives per positive (the reference used 2)
    sampling: str = "uniform"      # "uniform" or "popularity" (count ** 0.75)
    shared: bool = False           # one table for both sides (left and right keys from one vocab)
    left_name: str = "left"        # table names: the column names, or "books" and "links"
    right_name: str = "right"
    init_scale: float = 0.01       # std of the normal initialisation (small: measured to learn fastest)
    l2: float = 0.0                # weight decay of the rows a step touches: each shrinks by lr * l2 (0: off)
    update: str = "hogwild"        # "hogwild" (fastest) or "minibatch" (same vectors whatever the thread count)
    recent: int = 0                # recommendations also follow a user's latest items: how many (0: off)
    recent_weight: float = 4.0     # an item's score gains this times its mean cosine to those items
    device: str | None = None      # None or "cpu": the numba kernel; "cuda", "cuda:N": torch on that GPU (not saved)

    def __post_init__(self) -> None:
        check_positive_int("dim", self.dim)
        check_positive_int("negatives", self.negatives)
        if not (isinstance(self.recent, int) and self.recent >= 0):
            raise InputError(f"recent must be a whole number >= 0. Got {self.recent!r} instead.", param="recent")
        if not (isinstance(self.recent_weight, (int, float)) and self.recent_weight >= 0):
            raise InputError(f"recent_weight must be a number >= 0. Got {self.recent_weight!r} instead.",
                             param="recent_weight")
        if not (isinstance(self.l2, (int, float)) and self.l2 >= 0):
            raise InputError(f"l2 must be a number >= 0. Got {self.l2!r} instead.", param="l2")
        for name, value, allowed in (("score", self.score, SCORES), ("loss", self.loss, LOSSES),
                                     ("sampling", self.sampling, SAMPLING), ("update", self.update, UPDATES)):
            if value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}. Got {value!r} instead.", param=name)
        if self.device is not None:
            parse_device(self.device)
        if self.left_name == self.right_name and not self.shared:
            raise InputError(f"left and right tables need different names. Got {self.left_name!r} for both.")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "PairConfig":
        """The settings named ``name`` in PRESETS, with ``overrides`` on top."""
        if name not in PRESETS:
            raise InputError(f"preset must be one of {', '.join(PRESETS)}. Got {name!r} instead.", param="preset")
        return cls(**{**PRESETS[name], **overrides})


@register_model
class PairModel(EmbeddingModel):
    """Left and right embedding tables whose score says whether a (left, right) pair is a true one."""

    kind = "pair"
    #: Row-wise Adagrad: genre@10 per epoch as Adagrad's, its step about 40% cheaper (BENCHMARKS.md, issue 13).
    DEFAULT_OPTIMIZER = "row_adagrad"
    #: Measured on planted graphs for each row optimizer (tests/test_training.py, benchmarks/).
    DEFAULT_LR = {"sgd": 0.05, "adagrad": 0.2, "rmsprop": 0.005, "adam": 0.01, "row_adagrad": 0.2}

    def __init__(self, left_vocab: Vocab, right_vocab: Vocab, config: PairConfig | None = None, *, seed: int = 0):
        super().__init__()
        self.config = config or PairConfig()
        if self.config.shared and left_vocab != right_vocab:
            raise InputError("shared=True needs one vocab for both sides; load the pairs with shared_vocab=True.")
        self.left_vocab, self.right_vocab = left_vocab, right_vocab
        generator = torch.Generator().manual_seed(seed)
        dim, scale = self.config.dim, self.config.init_scale
        self.left = torch.nn.Parameter(torch.randn(len(left_vocab), dim, generator=generator) * scale,
                                       requires_grad=False)
        self.right = self.left if self.config.shared else torch.nn.Parameter(
            torch.randn(len(right_vocab), dim, generator=generator) * scale, requires_grad=False)
        # Left rows no fit has trained yet: a fit zeroes those its data gives no pair (a key never trained
        # is a zero vector, not random noise) and clears the mark of those it trains. A loaded model has none.
        # A shared table is left as it is (its rows are right keys too).
        self.untrained_left = np.ones(len(left_vocab), dtype=bool)
        # The row optimizer's per-table state, kept from the last fit (or loaded with the folder) so that
        # training again continues it: {"optimizer": name, "tables": [left state, right state]}.
        self.optimizer_state: dict[str, Any] | None = None

    def vocabs(self) -> dict[str, Vocab]:
        if self.config.shared:
            return {self.config.left_name: self.left_vocab}
        return {self.config.left_name: self.left_vocab, self.config.right_name: self.right_vocab}

    def table_weights(self) -> dict[str, torch.Tensor]:
        if self.config.shared:
            return {self.config.left_name: self.left.data}
        return {self.config.left_name: self.left.data, self.config.right_name: self.right.data}

    def config_dict(self) -> dict[str, Any]:
        return {**asdict(self.config), "device": None}  # where a fit ran is no part of the model

    @classmethod
    def from_config(cls, config: dict[str, Any], vocabs: dict[str, Vocab]) -> "PairModel":
        known = {f.name for f in fields(PairConfig)}
        cfg = PairConfig(**{k: v for k, v in config.items() if k in known})
        left = vocabs[cfg.left_name]
        return cls(left, left if cfg.shared else vocabs[cfg.right_name], cfg)

    def state_dict(self, *args, **kwargs):  # the shared table is stored once
        state = super().state_dict(*args, **kwargs)
        if self.config.shared:
            state.pop(kwargs.get("prefix", "") + "right", None)
        return state

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        if self.config.shared:
            state_dict = {**state_dict, "right": state_dict["left"]}
        self.untrained_left[:] = False
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @classmethod
    def for_data(cls, data: Pairs, config: PairConfig | None = None, *, seed: int = 0) -> "PairModel":
        """A model sized for the pairs ``data``, its tables named after the pairs' vocabs (``config`` is not
        changed: the model gets a copy with those names)."""
        if not isinstance(data, Pairs):
            raise InputError(f"a pair model is built for Pairs (see read_pairs). Got {type(data).__name__} instead.")
        config = config or PairConfig()
        left_name = data.left_vocab.name or config.left_name
        right_name = data.right_vocab.name or config.right_name
        if left_name == right_name and not config.shared:
            right_name += "_right"
        config = replace(config, left_name=left_name, right_name=right_name)
        return cls(data.left_vocab, data.right_vocab, config, seed=seed)

    def optimizer_states(self, optimizer: str) -> list[dict[str, np.ndarray]]:
        """Per-table row-optimizer state for a fit with ``optimizer``: the kept one when it is for that
        optimizer and these tables, else a fresh one; either way kept on the model (and saved with it)."""
        fresh = [kernel.optimizer_state(optimizer, tuple(t.shape)) for t in self._trained_tables()]
        kept = self.optimizer_state
        if kept is None or kept["optimizer"] != optimizer or _shapes(kept["tables"]) != _shapes(fresh):
            self.optimizer_state = {"optimizer": optimizer, "tables": fresh}
        return self.optimizer_state["tables"]

    def _trained_tables(self) -> list[torch.Tensor]:
        return [self.left.data] if self.config.shared else [self.left.data, self.right.data]

    def optimizer_tensors(self) -> tuple[str, dict[str, torch.Tensor]] | None:
        """(optimizer name, its state as tensors named "<table>.<part>"), or None before any fit."""
        if self.optimizer_state is None:
            return None
        return self.optimizer_state["optimizer"], {
            f"{name}.{part}": torch.from_numpy(array)
            for name, state in zip(self.vocabs(), self.optimizer_state["tables"]) for part, array in state.items()}

    def load_optimizer_tensors(self, optimizer: str, tensors: dict[str, torch.Tensor]) -> None:
        """Restore the state ``optimizer_tensors`` gave; a ValueError names a missing or misshapen tensor."""
        fresh = [kernel.optimizer_state(optimizer, tuple(t.shape)) for t in self._trained_tables()]
        for name, state in zip(self.vocabs(), fresh):
            for part, array in state.items():
                tensor = tensors.get(f"{name}.{part}")
                if tensor is None or tuple(tensor.shape) != array.shape:
                    got = "missing" if tensor is None else f"of shape {tuple(tensor.shape)}"
                    raise ValueError(f"tensor '{name}.{part}' is {got}; {optimizer} needs shape {array.shape}")
                state[part] = tensor.numpy().astype(np.float32, copy=True)
        self.optimizer_state = {"optimizer": optimizer, "tables": fresh}

    # -- scoring ---------------------------------------------------------------------------------------
    def score(self, left: np.ndarray | torch.Tensor, right: np.ndarray | torch.Tensor, *,
              recent: Bags | None = None) -> torch.Tensor:
        """Scores of id pairs (cosine or dot): higher means more likely a true pair. ``recent``: one bag per
        row of ``left``, that left key's latest right ids (its last ``config.recent``, as
        ``data.sequences.last_items`` gives them); when ``config.recent`` is on, a right key's score gains
        ``config.recent_weight`` times its mean cosine to them."""
        u = self.left.data[torch.as_tensor(left, dtype=torch.int64)]
        v = self.right.data[torch.as_tensor(right, dtype=torch.int64)]
        if self.config.score == "cosine":
            scores = F.cosine_similarity(u, v, dim=-1, eps=1e-12)
        else:
            scores = (u * v).sum(-1)
        if recent is None or not self.config.recent:
            return scores
        profile = self._recent_profile(recent)
        profile = profile.reshape(profile.shape[:1] + (1,) * (v.dim() - 2) + profile.shape[1:])
        return scores + self.config.recent_weight * (profile * F.normalize(v, dim=-1, eps=1e-12)).sum(-1)

    def score_all(self, left: np.ndarray, *, recent: Bags | None = None) -> np.ndarray:
        """(len(left), n_right) scores of each left id against every right key, for ranking (``recent`` as in
        ``score``)."""
        u = self.left.data[torch.as_tensor(np.asarray(left), dtype=torch.int64)]
        v = self.right.data
        if self.config.score == "cosine":
            u, v = F.normalize(u, dim=1, eps=1e-12), F.normalize(v, dim=1, eps=1e-12)
        scores = u @ v.T
        if recent is not None and self.config.recent:
            unit = F.normalize(self.right.data, dim=1, eps=1e-12)
            scores += self.config.recent_weight * (self._recent_profile(recent) @ unit.T)
        return scores.numpy()

    def _recent_profile(self, recent: Bags) -> torch.Tensor:
        """(bags, dim): the mean unit right vector of each bag (zero when empty), so that its dot with a unit
        vector is the mean cosine to the bag's items."""
        unit = F.normalize(self.right.data[torch.as_tensor(recent.ids, dtype=torch.int64)], dim=1, eps=1e-12)
        lengths = np.diff(recent.offsets)
        rows = torch.as_tensor(np.repeat(np.arange(len(lengths)), lengths))
        sums = torch.zeros(len(lengths), unit.shape[1]).index_add_(0, rows, unit)
        return sums / torch.as_tensor(np.maximum(lengths, 1), dtype=torch.float32)[:, None]

    # -- training ----------------------------------------------------------------------------------------
    def _check(self, data: Any) -> Pairs:
        if not isinstance(data, Pairs):
            raise InputError(f"a pair model trains on Pairs. Got {type(data).__name__} instead.")
        if len(data.left_vocab) != len(self.left_vocab) or len(data.right_vocab) != len(self.right_vocab):
            raise InputError("the pairs' vocabs do not match the model's tables.")
        return data

    def holdout_units(self, data: Pairs) -> tuple[int, str]:
        return len(self._check(data)), "pairs"

    def hold_out(self, data: Pairs, held: np.ndarray) -> tuple[Pairs, Pairs]:
        kept = np.ones(len(data), dtype=bool)
        kept[held] = False
        return data.subset(kept), data.subset(held)

    def training_task(self, data: Pairs, validation: Pairs | None, *, optimizer: str, lr: float,
                      rng: np.random.Generator) -> "PairTask | TorchPairTask":
        task = PairTask(self, self._check(data), validation, optimizer, lr, rng)
        return task if self.config.device in (None, "cpu") else TorchPairTask(task, self.config.device)


class PairTask:
    """One fit of a pair model: training positives with negatives drawn each epoch (never a training
    positive), and validation positives scored against negatives that are no known positive."""

    def __init__(self, model: PairModel, train: Pairs, val: Pairs | None, optimizer: str, lr: float,
                 rng: np.random.Generator):
        cfg = model.config
        self.model, self.cfg, self.train, self.val = model, cfg, train, val
        self.sampler = NegativeSampler(train, ratio=cfg.negatives, distribution=cfg.sampling)
        self.monitor, self.monitor_mode = ("val_auc", "max") if val is not None else ("loss", "min")
        if val is not None:
            known = Pairs(np.concatenate([train.left, val.left]), np.concatenate([train.right, val.right]),
                          train.left_vocab, train.right_vocab)
            val_neg = NegativeSampler(known, ratio=1).sample(val.left, rng.integers(2**62))[:, 0]
            self._val_left = np.concatenate([val.left, val.left])
            self._val_right = np.concatenate([val.right, val_neg])
            self._val_label = np.concatenate([np.ones(len(val)), np.zeros(len(val))])
        self.n_samples = len(train) * (1 + cfg.negatives)
        self.minibatch_batch_size = default_batch_size(len(train), cfg.negatives)
        self.default_batch_size = default_batch_size(len(train), cfg.negatives, cfg.update)
        if cfg.update == "hogwild":  # its larger steps learn as the minibatch-sized ones: the same epochs
            self.default_epochs = default_epochs(math.ceil(self.n_samples / self.minibatch_batch_size))
        self.opt_code, self.lr = kernel.OPTIMIZERS[optimizer], lr
        self.hyper = kernel.optimizer_hyper(optimizer)
        self.tables = [model.left.data.numpy()] if cfg.shared else [model.left.data.numpy(), model.right.data.numpy()]
        if not cfg.shared:  # a left key no fit has trained, and without a pair here, stays a zero vector
            paired = np.bincount(train.left, minlength=len(model.left_vocab)) > 0
            self.tables[0][model.untrained_left & ~paired] = 0.0
            model.untrained_left &= ~paired
        self.states = model.optimizer_states(optimizer)  # continued from the last fit or the saved folder
        # the row sums of phase 2 (Hogwild and the torch step need no buffer of table size)
        if cfg.update == "minibatch" and cfg.device in (None, "cpu"):
            self.accums = [np.zeros_like(t) for t in self.tables]
            self.touched = [np.zeros(t.shape[0], dtype=np.uint8) for t in self.tables]
        self.label_neg = kernel.negative_label(cfg.loss)
        self.loss_code = kernel.LOSS_CODES[cfg.loss]

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
        """Batches of about ``batch_size`` samples: positives with their negatives, drawn for the epoch."""
        per_batch = max(1, batch_size // (1 + self.cfg.negatives))
        order = kernel.epoch_order(len(self.train), int(rng.integers(2**62)))
        left, right = kernel.take_pairs(self.train.left, self.train.right, order)
        weight = np.zeros(0, np.float32) if self.train.weight is None else self.train.weight[order]
        negatives = self.sampler.sample(left, rng.integers(2**62))
        for start in range(0, len(order), per_batch):
            stop = start + per_batch
            yield (left[start:stop], right[start:stop], negatives[start:stop],
                   weight[start:stop] if len(weight) else weight)

    def step(self, batch: tuple[np.ndarray, ...]) -> tuple[float, int]:
        """One update from a batch; returns (summed loss, samples). Small batches run on one thread."""
        samples = len(batch[2]) * (1 + self.cfg.negatives)
        step = self._hogwild_step if self.cfg.update == "hogwild" else self._step
        if samples >= PARALLEL_MIN_SAMPLES:
            return step(batch, numba.get_num_threads())
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:  # on one thread, hogwild too gives the same vectors every run
            return step(batch, 1)
        finally:
            numba.set_num_threads(threads)

    def _hogwild_step(self, batch: tuple[np.ndarray, ...], parts: int) -> tuple[float, int]:
        left, right, negatives, weight = batch
        losses = np.empty(len(left), np.float64)
        (l_state, r_state), (table_l, table_r) = (self.states * 2)[:2], (self.tables * 2)[:2]
        kernel.hogwild_step(table_l, table_r, left, right, negatives, weight, self.loss_code,
                            self.cfg.score == "cosine", self.label_neg, self.opt_code, self.lr, self.hyper,
                            l_state["state1"], l_state["state2"], l_state["row_steps"], r_state["state1"],
                            r_state["state2"], r_state["row_steps"], losses, min(parts, len(left)), self.cfg.shared)
        if self.cfg.l2:  # in minibatch-sized slices: a row decays as often an epoch whatever Hogwild's step
            per = self.minibatch_batch_size // (1 + self.cfg.negatives)
            for start in range(0, len(left), per):
                part = slice(start, start + per)
                rights = np.concatenate([right[part], negatives[part].ravel()])
                touched = [np.concatenate([left[part], rights])] if self.cfg.shared else [left[part], rights]
                for table, rows in zip(self.tables, touched):
                    self._decay(table, rows)
        return float(losses.sum()), negatives.size + len(left)

    def _decay(self, table: np.ndarray, rows: np.ndarray) -> None:
        """Decoupled weight decay (as AdamW) of the rows a step touched only: sparse, like the step."""
        table[sorted_unique(rows)] *= np.float32(1.0 - self.lr * self.cfg.l2)

    def _step(self, batch: tuple[np.ndarray, ...], parts: int) -> tuple[float, int]:
        left, right, negatives, weight = batch
        n, k = negatives.shape
        samples = n * (1 + k)
        table_l, table_r = self.tables[0], self.tables[-1]
        dim = table_l.shape[1]
        grad_l, grad_r = np.empty((samples, dim), np.float32), np.empty((samples, dim), np.float32)
        rows_l, rows_r = np.empty(samples, np.int32), np.empty(samples, np.int32)
        losses = np.empty(n, np.float64)
        kernel.pair_gradients(table_l, table_r, left, right, negatives, weight, self.loss_code,
                              self.cfg.score == "cosine", self.label_neg, grad_l, grad_r, rows_l, rows_r, losses)
        if self.cfg.shared:
            updates = [(np.concatenate([rows_l, rows_r]), np.concatenate([grad_l, grad_r]))]
        else:
            updates = [(rows_l, grad_l), (rows_r, grad_r)]
        for table, state, accum, touched, (rows, grads) in zip(self.tables, self.states, self.accums,
                                                               self.touched, updates):
            order = np.empty(parts * len(rows), np.int32)  # one slice of touched rows per part (thread)
            kernel.apply_row_gradients(table, rows, grads, self.opt_code, self.lr, self.hyper, state["state1"],
                                       state["state2"], state["row_steps"], accum, touched, order)
            if self.cfg.l2:
                self._decay(table, rows)
        return float(losses.sum()), samples

    def validate(self) -> dict[str, float]:
        if self.val is None:
            return {}
        scores = self.model.score(self._val_left, self._val_right).numpy()
        return {"val_auc": roc_auc(self._val_label, scores)}


def default_batch_size(n_pairs: int, negatives: int, update: str = "minibatch") -> int:
    """Samples a step for ``n_pairs`` training pairs. A minibatch step is one update of the summed gradient:
    256-4,096 positives with their negatives, so that an epoch takes >= 200 steps where the data allows.
    Hogwild updates per positive whatever the batch, so its step is only a unit of work and progress: about
    50 an epoch (1,024-65,536 positives), as each step starts a parallel region and a dispatch (200 steps
    cost 15% of an epoch at the reference size)."""
    if update == "hogwild":
        return int(np.clip(n_pairs / 50, 1024, 65536)) * (1 + negatives)
    return int(np.clip(n_pairs / 200, 256, 4096)) * (1 + negatives)


def _shapes(states: list[dict[str, np.ndarray]]) -> list[list[tuple[int, ...]]]:
    return [[state[part].shape for part in sorted(state)] for state in states]


#: Below this many samples a step runs on one thread: starting a parallel region costs more than it saves.
PARALLEL_MIN_SAMPLES = 6_144
