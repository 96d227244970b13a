"""What the bag models share: an EmbeddingBag pools a row's tokens (or last items) into one vector.

``BagConfig`` and ``BagEncoder`` (token dropout, pooling, optional naive Bayes token weights, an optional
hidden layer) serve the text model (``models.text``) and the next-item model (``models.next_item``);
``BagTask`` gathers batches of bags with vectorised offsets and trains them by autograd.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..data.bags import Bags
from ..errors import InputError, check_fraction, check_positive_int
from .autograd import AutogradTask, make_torch_optimizer

__all__ = ["BAG_DEFAULT_LR", "POOLINGS", "SPARSE_OPTIMIZERS", "PREDICT_CHUNK", "BagConfig", "BagEncoder", "BagTask", "bag_optimizer",
           "config_from_dict", "nb_log_count_ratios"]

POOLINGS = ("mean", "sum", "sqrtn")
SPARSE_OPTIMIZERS = ("sgd", "adagrad")   # these take sparse gradients: only touched rows are updated
PREDICT_CHUNK = 4096
#: The bag models' default learning rates: adagrad's was chosen on the IMDB and rt-polarity validation splits
#: (benchmarks/bench_text.py), adam's is the one bench_nextitem.py measured on MovieLens; sgd's and rmsprop's
#: are common starting points, not measured here.
BAG_DEFAULT_LR = {"sgd": 0.05, "adagrad": 0.1, "rmsprop": 0.001, "adam": 0.003}                      # rows per forward pass when predicting


@dataclass
class BagConfig:
    """How a bag becomes a vector: embedding size, pooling, and an optional hidden layer."""

    dim: int = 50             # embedding size
    pooling: str = "mean"     # "mean", "sum", or "sqrtn" (sum / sqrt(bag length))
    hidden: int = 0           # 0: the head reads the pooled vector; else one ReLU layer of this size
    dropout: float = 0.0      # dropout on the pooled vector (and the hidden layer)
    token_dropout: float = 0.0  # in training, drop each token of a bag with this probability (word dropout)
    init_scale: float = 0.05  # embeddings start uniform in (-init_scale, init_scale)
    nb_weights: bool = False  # text, binary label: scale each token's vector by its naive Bayes log-count ratio

    def __post_init__(self) -> None:
        check_positive_int("dim", self.dim)
        if not isinstance(self.nb_weights, bool):
            raise InputError(f"nb_weights must be True or False. Got {self.nb_weights!r} instead.", param="nb_weights")
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 0:
            raise InputError(f"hidden must be an int >= 0. Got {self.hidden!r} instead.", param="hidden")
        check_fraction("dropout", self.dropout)
        check_fraction("token_dropout", self.token_dropout)
        if self.pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {', '.join(POOLINGS)}. Got {self.pooling!r} instead.", param="pooling")


def config_from_dict(cls, data: dict[str, Any]):
    """A config dataclass from saved settings (fields this version does not know are ignored)."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


class BagEncoder(torch.nn.Module):
    """Token dropout, EmbeddingBag (mean, sum or sqrtn pooling), dropout, then an optional ReLU hidden layer.

    With ``config.nb_weights`` each token's vector is multiplied by its entry of the ``token_weight`` buffer
    (saved with the model; ones until the model sets it from its training data) before pooling.
    """

    def __init__(self, rows: int, config: BagConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        self.register_buffer("token_weight", torch.ones(rows) if config.nb_weights else None)
        mode = "mean" if config.pooling == "mean" and not config.nb_weights else "sum"
        self.bag = torch.nn.EmbeddingBag(rows, config.dim, mode=mode)
        with torch.no_grad():
            self.bag.weight.uniform_(-config.init_scale, config.init_scale, generator=generator)
        layers: list[torch.nn.Module] = [torch.nn.Dropout(config.dropout)]
        if config.hidden:
            layers += [torch.nn.Linear(config.dim, config.hidden), torch.nn.ReLU(), torch.nn.Dropout(config.dropout)]
        self.after = torch.nn.Sequential(*layers)

    @property
    def out_dim(self) -> int:
        return self.config.hidden or self.config.dim

    def forward(self, starts: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """(n, out_dim) vectors of n bags given by their ``starts`` into the flat ``ids``."""
        if self.training and self.config.token_dropout:
            starts, ids = _drop_tokens(starts, ids, self.config.token_dropout)
        weights = None
        if self.config.pooling != "sum" and self.bag.mode == "sum":   # sqrtn, or mean with token weights
            lengths = torch.diff(starts, append=torch.tensor([len(ids)]))
            scale = lengths.clamp(min=1).float()
            scale = scale.rsqrt() if self.config.pooling == "sqrtn" else scale.reciprocal()
            weights = torch.repeat_interleave(scale, lengths)
        if self.token_weight is not None:
            weights = self.token_weight[ids] if weights is None else weights * self.token_weight[ids]
        return self.after(self.bag(ids, starts, per_sample_weights=weights))


def nb_log_count_ratios(bags: Bags, positive: np.ndarray, rows: int, alpha: float = 1.0) -> np.ndarray:
    """The naive Bayes log-count ratio of each of ``rows`` ids: log((p / |p|) / (q / |q|)), where p (q) is
    ``alpha`` plus the number of positive (negative) bags that hold the id.

    NBSVM (Wang & Manning 2012) scales its bag-of-n-gram features by these: ids that separate the classes
    weigh more from the start, while ids seen about as often in both stay near 0 and ids seen once stay small
    (about ±log 2 with ``alpha`` 1) when the classes are balanced; with unbalanced classes every ratio is
    shifted by log(|q| / |p|), the value an id never seen in training gets. Presence is counted, not
    occurrences, as they do.
    """
    positive = np.asarray(positive, dtype=bool)
    if len(positive) != len(bags):
        raise InputError(f"{len(bags)} bags but {len(positive)} labels.")
    bag_of = np.repeat(np.arange(len(bags), dtype=np.int64), bags.lengths)
    pairs = np.unique(bags.ids.astype(np.int64) * len(bags) + bag_of)   # each (id, bag) once
    ids, bag = pairs // len(bags), pairs % len(bags)
    p = alpha + np.bincount(ids[positive[bag]], minlength=rows)
    q = alpha + np.bincount(ids[~positive[bag]], minlength=rows)
    return np.log(p / p.sum()) - np.log(q / q.sum())


def _drop_tokens(starts: torch.Tensor, ids: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The bags with each token dropped with probability ``p`` (torch's global generator); a bag that
    would lose every token keeps its first, so no bag becomes empty."""
    lengths = torch.diff(starts, append=torch.tensor([len(ids)]))
    bag = torch.repeat_interleave(torch.arange(len(starts)), lengths)
    keep = torch.rand(len(ids)) >= p
    kept = torch.zeros(len(starts), dtype=torch.int64).index_add_(0, bag, keep.long())
    emptied = (kept == 0) & (lengths > 0)
    keep[starts[emptied]] = True
    kept[emptied] = 1
    return torch.cumsum(kept, 0) - kept, ids[keep]


class BagTask:
    """A TrainingTask whose rows are bags: AutogradTask's step and validation, with batches
    (starts, ids, target) gathered from the bags' offsets without a Python loop."""

    def __init__(self, model: torch.nn.Module, bags: Bags, target: torch.Tensor,
                 loss_fn: Callable[..., torch.Tensor], optimizer: torch.optim.Optimizer, **kwargs: Any):
        task = AutogradTask(model, (target,), loss_fn, optimizer, **kwargs)
        self.n_samples, self.default_batch_size = task.n_samples, task.default_batch_size
        self.monitor, self.monitor_mode = task.monitor, task.monitor_mode
        self.step, self.validate = task.step, task.validate
        self.bags, self.target, self.optimizer = bags, target, optimizer  # the optimizer: for checkpoints

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        order = rng.permutation(self.n_samples)
        for start in range(0, self.n_samples, batch_size):
            rows = order[start:start + batch_size]
            ids, starts = self.bags.take(rows).torch_inputs()
            yield starts, ids, self.target[torch.from_numpy(rows)]


def bag_optimizer(model: torch.nn.Module, encoder: BagEncoder, optimizer: str, lr: float, *,
                  sparse: bool = True) -> torch.optim.Optimizer:
    """The named optimizer; the embedding table takes sparse gradients when the optimizer allows."""
    encoder.bag.sparse = sparse and optimizer in SPARSE_OPTIMIZERS
    if encoder.bag.sparse:
        torch.sparse.check_sparse_tensor_invariants.disable()  # torch's default, said explicitly: no warning
    return make_torch_optimizer(optimizer, model.parameters(), lr)
