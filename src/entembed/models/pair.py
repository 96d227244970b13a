"""Pair model: two embedding tables (left, right) scored by cosine or dot product, trained on positive
pairs against sampled negatives, with gradients written by hand and applied to touched rows only.

This is the reference book recommender (book and link tables, normalized dot, MSE on 1/-1) generalised:
logistic loss on 1/0 and BPR are offered too. No autograd: each step hands int32 id batches to the compiled
kernels in ``pair_kernel`` (per-sample gradients, then one optimizer update per touched row). That keeps an
epoch of 2.3M samples under a second on 2 cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Iterator

import numpy as np
import torch
import numba
import torch.nn.functional as F

from ..data.negatives import SAMPLING, NegativeSampler
from ..data.pairs import Pairs
from ..errors import InputError, check_positive_int
from ..evaluate import roc_auc
from ..vocab import Vocab
from . import pair_kernel as kernel
from .base import EmbeddingModel, register_model

__all__ = ["PairConfig", "PairModel", "LOSSES", "SCORES"]

LOSSES = ("logistic", "mse", "bpr")
SCORES = ("dot", "cosine")


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

    def __post_init__(self) -> None:
        check_positive_int("dim", self.dim)
        check_positive_int("negatives", self.negatives)
        for name, value, allowed in (("score", self.score, SCORES), ("loss", self.loss, LOSSES),
                                     ("sampling", self.sampling, SAMPLING)):
            if value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}. Got {value!r} instead.")
        if self.left_name == self.right_name and not self.shared:
            raise InputError(f"left and right tables need different names. Got {self.left_name!r} for both.")


@register_model
class PairModel(EmbeddingModel):
    """Left and right embedding tables whose score says whether a (left, right) pair is a true one."""

    kind = "pair"

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

    def vocabs(self) -> dict[str, Vocab]:
        if self.config.shared:
            return {self.config.left_name: self.left_vocab}
        return {self.config.left_name: self.left_vocab, self.config.right_name: self.right_vocab}

    def table_weights(self) -> dict[str, torch.Tensor]:
        if self.config.shared:
            return {self.config.left_name: self.left.data}
        return {self.config.left_name: self.left.data, self.config.right_name: self.right.data}

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

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
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @classmethod
    def for_pairs(cls, pairs: Pairs, config: PairConfig | None = None, *, seed: int = 0) -> "PairModel":
        """A model sized for ``pairs``, its tables named after the pairs' vocabs."""
        config = config or PairConfig()
        config.left_name = pairs.left_vocab.name or config.left_name
        config.right_name = pairs.right_vocab.name or config.right_name
        if config.left_name == config.right_name and not config.shared:
            config.right_name += "_right"
        return cls(pairs.left_vocab, pairs.right_vocab, config, seed=seed)

    # -- scoring ---------------------------------------------------------------------------------------
    def score(self, left: np.ndarray | torch.Tensor, right: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Scores of id pairs (cosine or dot): higher means more likely a true pair."""
        u = self.left.data[torch.as_tensor(left, dtype=torch.int64)]
        v = self.right.data[torch.as_tensor(right, dtype=torch.int64)]
        if self.config.score == "cosine":
            return F.cosine_similarity(u, v, dim=-1, eps=1e-12)
        return (u * v).sum(-1)

    def training_task(self, data: Pairs, *, settings: Any, rng: np.random.Generator) -> "PairTask":
        if not isinstance(data, Pairs):
            raise InputError(f"a pair model trains on Pairs. Got {type(data).__name__} instead.")
        if len(data.left_vocab) != len(self.left_vocab) or len(data.right_vocab) != len(self.right_vocab):
            raise InputError("the pairs' vocabs do not match the model's tables.")
        return PairTask(self, data, settings, rng)


class PairTask:
    """One fit of a pair model: positives split into train/validation, negatives drawn each epoch."""

    def __init__(self, model: PairModel, pairs: Pairs, settings: Any, rng: np.random.Generator):
        cfg = model.config
        if settings.optimizer not in kernel.OPTIMIZERS:
            raise InputError(f"optimizer must be one of {', '.join(kernel.OPTIMIZERS)}. "
                             f"Got {settings.optimizer!r} instead.")
        self.model, self.cfg = model, cfg
        self.sampler = NegativeSampler(pairs, ratio=cfg.negatives, distribution=cfg.sampling)
        order = rng.permutation(len(pairs))
        n_val = int(round(len(pairs) * settings.validation))
        if settings.validation and not 0 < n_val < len(pairs):
            raise InputError(f"validation={settings.validation} leaves no pair on one side of {len(pairs)} pairs.")
        self.train = pairs.subset(np.sort(order[n_val:]))
        self.val = pairs.subset(np.sort(order[:n_val])) if n_val else None
        self.monitor, self.monitor_mode = ("val_auc", "max") if self.val is not None else ("loss", "min")
        if self.val is not None:
            val_neg = self.sampler.sample(self.val.left, rng.integers(2**62), ratio=1)[:, 0]
            self._val_left = np.concatenate([self.val.left, self.val.left])
            self._val_right = np.concatenate([self.val.right, val_neg])
            self._val_label = np.concatenate([np.ones(n_val), np.zeros(n_val)])
        self.n_samples = len(self.train) * (1 + cfg.negatives)
        positives_per_batch = int(np.clip(len(self.train) / 200, 256, 4096))  # >= 200 steps an epoch
        self.default_batch_size = positives_per_batch * (1 + cfg.negatives)
        self.opt_code = kernel.OPTIMIZERS[settings.optimizer]
        self.lr = settings.lr if settings.lr is not None else DEFAULT_LR[settings.optimizer]
        self.hyper = np.array([1e-8, 0.99 if settings.optimizer == "rmsprop" else 0.9, 0.999])
        self.tables = [model.left.data.numpy()] if cfg.shared else [model.left.data.numpy(), model.right.data.numpy()]
        if not cfg.shared:  # a left key with no pair is never trained: a zero vector, not random noise
            self.tables[0][np.bincount(self.train.left, minlength=len(model.left_vocab)) == 0] = 0.0
        self.states = [kernel.optimizer_state(settings.optimizer, t.shape) for t in self.tables]
        self.accums = [np.zeros_like(t) for t in self.tables]
        self.touched = [np.zeros(t.shape[0], dtype=np.uint8) for t in self.tables]
        self.label_neg = -1.0 if cfg.loss == "mse" else 0.0
        self.loss_code = kernel.LOSS_CODES[cfg.loss]

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
        """Batches of about ``batch_size`` samples: positives with their negatives, drawn for the epoch."""
        per_batch = max(1, batch_size // (1 + self.cfg.negatives))
        order = rng.permutation(len(self.train))
        left, right = self.train.left[order], self.train.right[order]
        weight = np.zeros(0, np.float32) if self.train.weight is None else self.train.weight[order]
        negatives = self.sampler.sample(left, rng.integers(2**62))
        for start in range(0, len(order), per_batch):
            stop = start + per_batch
            yield (left[start:stop], right[start:stop], negatives[start:stop],
                   weight[start:stop] if len(weight) else weight)

    def step(self, batch: tuple[np.ndarray, ...]) -> tuple[float, int]:
        """One update from a batch; returns (summed loss, samples). Small batches run on one thread."""
        samples = len(batch[2]) * (1 + self.cfg.negatives)
        if samples >= PARALLEL_MIN_SAMPLES:
            return self._step(batch, numba.get_num_threads())
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return self._step(batch, 1)
        finally:
            numba.set_num_threads(threads)

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
        return float(losses.sum()), samples

    def validate(self) -> dict[str, float]:
        if self.val is None:
            return {}
        scores = self.model.score(self._val_left, self._val_right).numpy()
        return {"val_auc": roc_auc(self._val_label, scores)}


#: Below this many samples a step runs on one thread: starting a parallel region costs more than it saves.
PARALLEL_MIN_SAMPLES = 6_144
#: Learning rates measured on planted graphs for each row optimizer (tests/test_training.py, benchmarks/).
DEFAULT_LR = {"sgd": 0.05, "adagrad": 0.2, "rmsprop": 0.005, "adam": 0.01}
