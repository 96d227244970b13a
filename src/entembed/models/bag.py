"""Bag models: an EmbeddingBag pools a row's tokens (or last items) into one vector, then a head predicts.

``TextModel`` (kind "text") reads a text column and predicts a label through the shared ``Head``
(regression, binary, multiclass); its word table (words and word n-grams) is ``tables['words']``. With a
binary label it can weight each token by its naive Bayes log-count ratio, as NBSVM does
(``BagConfig(nb_weights=True)``).
``NextItemModel`` (kind "next-item") reads a user's last N items and scores every item of the catalogue
as the next one, with a full softmax or a sampled one for large catalogues; its item table is
``tables['items']``. Both train by autograd through the one Trainer; batches of bags are gathered with
vectorised offsets (``BagTask``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..data.bags import Bags
from ..data.sequences import Interactions, history_windows, last_items, leave_last_out
from ..data.text import TextEncoder
from ..errors import InputError, check_fraction, check_positive_int
from ..evaluate import hit_rate, ndcg, ranks_of_targets
from ..vocab import Vocab
from .base import EmbeddingModel, register_model
from .heads import Head

if TYPE_CHECKING:
    from ..train import TrainSettings

__all__ = ["POOLINGS", "SOFTMAX", "BagConfig", "BagEncoder", "BagTask", "TextModel", "NextItemConfig",
           "NextItemModel", "nb_log_count_ratios", "train_text", "train_next_item"]

POOLINGS = ("mean", "sum", "sqrtn")
SOFTMAX = ("full", "sampled")
SPARSE_OPTIMIZERS = ("sgd", "adagrad")   # these take sparse gradients: only touched rows are updated
PREDICT_CHUNK = 4096                      # rows per forward pass when predicting


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
            raise InputError(f"nb_weights must be True or False. Got {self.nb_weights!r} instead.")
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 0:
            raise InputError(f"hidden must be an int >= 0. Got {self.hidden!r} instead.")
        check_fraction("dropout", self.dropout)
        check_fraction("token_dropout", self.token_dropout)
        if self.pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {', '.join(POOLINGS)}. Got {self.pooling!r} instead.")


def _config(cls, data: dict[str, Any]):
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
        from ..train import AutogradTask  # here: train imports the models package

        task = AutogradTask(model, (target,), loss_fn, optimizer, **kwargs)
        self.n_samples, self.default_batch_size = task.n_samples, task.default_batch_size
        self.monitor, self.monitor_mode = task.monitor, task.monitor_mode
        self.step, self.validate = task.step, task.validate
        self.bags, self.target = bags, target

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        order = rng.permutation(self.n_samples)
        for start in range(0, self.n_samples, batch_size):
            rows = order[start:start + batch_size]
            ids, starts = self.bags.take(rows).torch_inputs()
            yield starts, ids, self.target[torch.from_numpy(rows)]


def _optimizer(model: torch.nn.Module, encoder: BagEncoder, settings: TrainSettings, *, sparse: bool = True):
    """The settings' optimizer; the embedding table takes sparse gradients when the optimizer allows."""
    from ..train import make_torch_optimizer

    encoder.bag.sparse = sparse and settings.optimizer in SPARSE_OPTIMIZERS
    if encoder.bag.sparse:
        torch.sparse.check_sparse_tensor_invariants.disable()  # torch's default, said explicitly: no warning
    return make_torch_optimizer(settings.optimizer, model.parameters(), settings.lr or DEFAULT_LR[settings.optimizer])


def _split(n: int, share: float, rng: np.random.Generator, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train, validation) row indices with ``share`` of ``n`` rows held out."""
    order = rng.permutation(n)
    n_val = int(round(n * share))
    if share and not 0 < n_val < n:
        raise InputError(f"validation={share} leaves no {what} on one side of {n} {what}.")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


#: Default learning rates: adagrad's was chosen on the IMDB and rt-polarity validation splits
#: (benchmarks/bench_text.py), adam's is the one bench_nextitem.py uses on MovieLens; sgd's and rmsprop's are
#: common starting points, not measured here.
DEFAULT_LR = {"sgd": 0.05, "adagrad": 0.1, "rmsprop": 0.001, "adam": 0.003}


# -- text -------------------------------------------------------------------------------------------------
@register_model
class TextModel(EmbeddingModel):
    """Words (and word n-grams) of a text column pooled into one vector, then a head predicts the label."""

    kind = "text"

    def __init__(self, vocab: Vocab, head: Head, config: BagConfig | None = None,
                 encoder: TextEncoder | None = None, *, text_column: str = "text", seed: int = 0):
        super().__init__()
        self.vocab, self.head = vocab, head
        self.config, self.encoder = config or BagConfig(), encoder or TextEncoder()
        self.text_column = text_column
        if self.config.nb_weights and head.task != "binary":
            raise InputError(f"nb_weights needs a binary label (log-count ratios of two classes); this head does "
                             f"{head.task}.")
        with torch.random.fork_rng():  # the dense layers draw from torch's global generator: seed it here
            torch.manual_seed(seed)
            self.bags = BagEncoder(len(vocab), self.config, torch.Generator().manual_seed(seed))
            self.output = torch.nn.Linear(self.bags.out_dim, head.n_outputs)

    def vocabs(self) -> dict[str, Vocab]:
        return {"words": self.vocab}

    def table_weights(self) -> dict[str, torch.Tensor]:
        return {"words": self.bags.bag.weight.data}

    def config_dict(self) -> dict[str, Any]:
        return {"bag": asdict(self.config), "text": self.encoder.to_dict(), "head": self.head.to_dict(),
                "text_column": self.text_column}

    @classmethod
    def from_config(cls, config: dict[str, Any], vocabs: dict[str, Vocab]) -> "TextModel":
        return cls(vocabs["words"], Head.from_dict(config["head"]), _config(BagConfig, config["bag"]),
                   TextEncoder.from_dict(config["text"]), text_column=config["text_column"])

    @property
    def classes(self) -> list | None:
        """Class labels in ``predict_proba`` column order (None for regression)."""
        return self.head.classes or None

    def forward(self, starts: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.output(self.bags(starts, ids))

    def encode(self, X: pd.DataFrame | pd.Series | Iterable[Any]) -> Bags:
        """Bags of word ids of the texts in ``X`` (a DataFrame with the training text column, or texts)."""
        if isinstance(X, pd.DataFrame):
            if self.text_column not in X.columns:
                raise InputError(f"no column {self.text_column!r} (the text column this model was trained on); "
                                 f"the columns are {', '.join(repr(str(c)) for c in X.columns)}.")
            X = X[self.text_column]
        return self.encoder.encode(X, self.vocab)

    def outputs(self, X: pd.DataFrame | pd.Series | Iterable[Any] | Bags) -> torch.Tensor:
        """Raw network outputs (n, n_outputs) for the rows of ``X``."""
        bags = X if isinstance(X, Bags) else self.encode(X)
        self.eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(bags), PREDICT_CHUNK):
                ids, starts = bags.take(np.arange(start, min(start + PREDICT_CHUNK, len(bags)))).torch_inputs()
                chunks.append(self(starts, ids))
        return torch.cat(chunks) if chunks else torch.zeros(0, self.head.n_outputs)

    def predict(self, X: pd.DataFrame | pd.Series | Iterable[Any]) -> np.ndarray:
        """Predicted labels (or values, for regression), one per row of ``X``."""
        return self.head.predict(self.outputs(X))

    def predict_proba(self, X: pd.DataFrame | pd.Series | Iterable[Any]) -> np.ndarray:
        """(n, n_classes) class probabilities, classes in ``self.head.classes`` order."""
        return self.head.probabilities(self.outputs(X))

    def training_task(self, data: tuple[Any, Any], *, settings: TrainSettings, rng: np.random.Generator) -> BagTask:
        """``data`` is (texts or Bags, targets). With ``nb_weights``, the token weights are set here from the
        training rows (not the validation share)."""
        texts, y = data
        bags = texts if isinstance(texts, Bags) else self.encode(texts)
        target = self.head.encode(y)
        if len(target) != len(bags):
            raise InputError(f"{len(bags)} texts but {len(target)} targets.")
        train, val = _split(len(bags), settings.validation, rng, "rows")
        if self.config.nb_weights:
            train_bags, positive = bags.take(train), target[torch.from_numpy(train)].numpy() == 1
            self.bags.token_weight.copy_(torch.from_numpy(nb_log_count_ratios(train_bags, positive, len(self.vocab))))
        head = self.head

        def loss_fn(model, starts, ids, target):
            return head.loss(model(starts, ids), target)

        validate, monitor = None, None
        if len(val):
            val_bags, val_target = bags.take(val), target[torch.from_numpy(val)]
            monitor = head.monitor[0]

            def validate() -> dict[str, float]:
                return head.metrics(self.outputs(val_bags), val_target)

        optimizer = _optimizer(self, self.bags, settings)
        return BagTask(self, bags.take(train), target[torch.from_numpy(train)], loss_fn, optimizer,
                       validate=validate, monitor=monitor, default_batch_size=32)


def train_text(data: pd.DataFrame, *, text: str, label: str, task: str | None = None,
               encoder: TextEncoder | None = None, config: BagConfig | None = None,
               settings: TrainSettings | None = None) -> TextModel:
    """Learn word embeddings from ``data[text]`` by predicting ``data[label]``; returns the trained model."""
    for column in (text, label):
        if column not in data.columns:
            raise InputError(f"no column {column!r}; the columns are "
                             f"{', '.join(repr(str(c)) for c in data.columns)}.")
    from ..train import Trainer, TrainSettings

    settings = settings or TrainSettings()
    encoder = encoder or TextEncoder()
    head = Head.fit(data[label], task, target=label)
    vocab, bags = encoder.fit_encode(data[text], column=text)
    model = TextModel(vocab, head, config, encoder, text_column=text, seed=settings.seed)
    Trainer(settings).fit(model, (bags, data[label]))
    return model


# -- next item --------------------------------------------------------------------------------------------
@dataclass
class NextItemConfig(BagConfig):
    """A bag of a user's last ``history`` items predicts the next item over the whole catalogue."""

    dim: int = 64
    history: int = 5          # the input bag: this many last items
    softmax: str = "full"     # "full" over every item, or "sampled" (uniform negatives) for large catalogues
    negatives: int = 1000     # sampled softmax: items drawn per batch, shared by its rows
    tied: bool = True         # score items with the input table (one table) or with a table of their own

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("history", self.history)
        check_positive_int("negatives", self.negatives)
        if self.nb_weights:
            raise InputError("nb_weights needs a binary label; a next-item model has none.")
        if self.softmax not in SOFTMAX:
            raise InputError(f"softmax must be one of {', '.join(SOFTMAX)}. Got {self.softmax!r} instead.")
        if self.tied and self.hidden and self.hidden != self.dim:
            raise InputError(f"tied=True scores items with the input table, so hidden must be 0 or dim "
                             f"({self.dim}). Got {self.hidden} instead.")


@register_model
class NextItemModel(EmbeddingModel):
    """Pools a user's last items into a vector and scores every item as the next one (softmax)."""

    kind = "next-item"

    def __init__(self, vocab: Vocab, config: NextItemConfig | None = None, *, seed: int = 0):
        super().__init__()
        self.vocab, self.config = vocab, config or NextItemConfig()
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():  # the hidden layer draws from torch's global generator: seed it here
            torch.manual_seed(seed)
            self.bags = BagEncoder(len(vocab), self.config, generator)
        self.item_bias = torch.nn.Parameter(torch.zeros(len(vocab)))
        if not self.config.tied:
            self.out_items = torch.nn.Parameter(
                torch.empty(len(vocab), self.bags.out_dim).uniform_(-self.config.init_scale, self.config.init_scale,
                                                                     generator=generator))

    def vocabs(self) -> dict[str, Vocab]:
        return {"items": self.vocab}

    def table_weights(self) -> dict[str, torch.Tensor]:
        return {"items": self.bags.bag.weight.data}

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    @classmethod
    def from_config(cls, config: dict[str, Any], vocabs: dict[str, Vocab]) -> "NextItemModel":
        return cls(vocabs["items"], _config(NextItemConfig, config))

    @property
    def output_table(self) -> torch.Tensor:
        return self.bags.bag.weight if self.config.tied else self.out_items

    def forward(self, starts: torch.Tensor, ids: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (n, n_items) of every item, or (n, k) of the given item ids ``items`` (n, k) or (k,)."""
        user = self.bags(starts, ids)
        if items is None:
            return user @ self.output_table.T + self.item_bias
        if items.dim() == 1:
            return user @ self.output_table[items].T + self.item_bias[items]
        return torch.einsum("nd,nkd->nk", user, self.output_table[items]) + self.item_bias[items]

    def score(self, histories: Bags, items: np.ndarray | None = None) -> np.ndarray:
        """Scores of every item (or of candidate ids ``items``, shape (n, k)) after each history."""
        self.eval()
        chunks = []
        with torch.no_grad():
            for s in range(0, len(histories), PREDICT_CHUNK):
                rows = np.arange(s, min(s + PREDICT_CHUNK, len(histories)))
                ids, starts = histories.take(rows).torch_inputs()
                chosen = None if items is None else torch.as_tensor(np.asarray(items)[rows], dtype=torch.int64)
                chunks.append(self(starts, ids, chosen).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.vocab)), np.float32)

    def recommend(self, history: Sequence[str], topn: int = 10, *, exclude_history: bool = True
                  ) -> list[tuple[str, float]]:
        """The ``topn`` likeliest next items after ``history`` (item keys, oldest first) as (key, score)."""
        ids = self.vocab.encode(list(history)[-self.config.history:])
        if len(ids) == 0:
            raise InputError("history must name at least one item.")
        scores = self.score(Bags.from_lengths(ids, [len(ids)]))[0]
        if exclude_history:
            scores[self.vocab.encode(list(history))] = -np.inf
        top = np.argsort(-scores, kind="stable")[:topn]
        return [(self.vocab.keys[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def evaluate(self, histories: Bags, targets: np.ndarray, candidates: np.ndarray, k: int = 10) -> dict[str, float]:
        """HR@k and NDCG@k of each target item ranked against its candidate items (n, c)."""
        scores = self.score(histories, np.concatenate([np.asarray(targets)[:, None], candidates], axis=1))
        ranks = ranks_of_targets(scores[:, 0], scores[:, 1:])
        return {f"hr@{k}": hit_rate(ranks, k), f"ndcg@{k}": ndcg(ranks, k)}

    def training_task(self, data: Interactions, *, settings: TrainSettings, rng: np.random.Generator) -> BagTask:
        """Every interaction after a user's first is a row: its last ``history`` items -> the item.

        With ``settings.validation``, that share of users has its last interaction held out, and the
        validation metric is its full-catalogue HR@10 (``val_hr@10``).
        """
        if not isinstance(data, Interactions):
            raise InputError(f"a next-item model trains on Interactions. Got {type(data).__name__} instead.")
        if len(data.item_vocab) != len(self.vocab):
            raise InputError("the interactions' item vocab does not match the model's item table.")
        validate, monitor = None, None
        if settings.validation:
            _, users = _split(data.n_users, settings.validation, rng, "users")
            data, held_users, held_items = leave_last_out(data, users=users)
            val_bags = last_items(data, self.config.history, users=held_users)

            def validate() -> dict[str, float]:
                scores = torch.from_numpy(self.score(val_bags))
                target = torch.from_numpy(held_items.astype(np.int64))
                ranks = ranks_of_targets(scores.gather(1, target[:, None])[:, 0].numpy(), scores.numpy())
                loss = F.cross_entropy(scores, target).item()
                return {"val_loss": loss, "val_hr@10": hit_rate(ranks, 10)}

            monitor = "val_hr@10"
        bags, target = history_windows(data, self.config.history)
        if len(target) == 0:
            raise InputError("no user has two interactions; next-item training needs histories.")
        n_items, cfg = len(self.vocab), self.config

        def loss_fn(model, starts, ids, target):
            if cfg.softmax == "full" or cfg.negatives >= n_items:
                return F.cross_entropy(model(starts, ids), target, reduction="sum")
            # sampled softmax with uniform negatives (their log q is constant, so it cancels)
            sampled = torch.randint(n_items, (cfg.negatives,))
            candidates = torch.cat([target[:, None], sampled.expand(len(target), -1)], dim=1)
            hit = candidates == target[:, None]
            hit[:, 0] = False                              # a sampled item equal to the target is no negative
            scores = model(starts, ids, candidates).masked_fill(hit, float("-inf"))
            return F.cross_entropy(scores, torch.zeros(len(target), dtype=torch.int64), reduction="sum")

        optimizer = _optimizer(self, self.bags, settings, sparse=not cfg.tied)
        return BagTask(self, bags, torch.from_numpy(target.astype(np.int64)), loss_fn, optimizer,
                       validate=validate, monitor=monitor, monitor_mode="max", default_batch_size=256)


def train_next_item(data: Interactions, *, config: NextItemConfig | None = None,
                    settings: TrainSettings | None = None) -> NextItemModel:
    """Learn item embeddings from interaction histories by predicting each next item; returns the model."""
    from ..train import Trainer, TrainSettings

    settings = settings or TrainSettings()
    model = NextItemModel(data.item_vocab, config, seed=settings.seed)
    Trainer(settings).fit(model, data)
    return model
