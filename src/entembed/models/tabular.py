"""Table model: entity embeddings of categorical columns, concatenated with numeric columns, into an MLP.

One embedding table per categorical column (its name is the column's name), each with one reserved row
after the vocab for missing values, unseen categories and categories rarer than ``min_count``. The
output layer and loss come from ``Head`` (regression, binary, multiclass, or vector: a vector a row, e.g.
the trained embedding of the key a row describes, for cold start from side features). Trained by autograd through
the one Trainer (``AutogradTask``), so validation metrics, early stopping and history come for free.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data.files import as_frame
from ..data.tables import TableColumns, TableData
from ..errors import InputError, check_fraction, check_positive_int, check_range
from ..vocab import Vocab
from .autograd import AutogradTask, make_torch_optimizer
from .base import EmbeddingModel, hold_out_rows, register_model
from .heads import TASKS, VECTOR_LOSSES, Head

__all__ = ["TableConfig", "TableModel", "embedding_size", "PRESETS", "ACTIVATIONS"]

ACTIVATIONS = {"relu": nn.ReLU, "linear": nn.Identity, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}
PREDICT_CHUNK = 65_536


def embedding_size(n_categories: int) -> int:
    """The embedding size rule of thumb: min(600, round(1.6 * n_categories ** 0.56))."""
    return int(min(600, round(1.6 * max(n_categories, 1) ** 0.56)))


@dataclass
class TableConfig:
    """The network of a table model; defaults suit a few columns of up to thousands of categories."""

    dim: int | None = None              # embedding size of every table; None: embedding_size(categories)
    dims: dict[str, int] = field(default_factory=dict)  # per-column sizes, overriding ``dim``
    hidden: tuple[int, ...] = (64, 32)  # hidden layer widths (empty: a linear model on the embeddings)
    activation: str | tuple[str, ...] = "relu"  # one for every hidden layer, or one per layer
    dropout: float = 0.0                # after each hidden layer
    embedding_dropout: float = 0.0      # on the concatenated embeddings
    l2: float = 0.0                     # penalty on the squared norm of the embedding rows a batch uses
    weight_decay: float = 0.0           # the optimizer's weight decay on the dense layers
    embedding_decay: float = 0.0        # ... and on the embedding tables (every row, every step)
    init_scale: float = 0.05            # std of the normal initialisation of embedding rows
    interactions: bool = False          # also feed the pairwise dot products of the tables' vectors (DLRM)
    biases: bool = False                # a learned bias per category (per output), summed into the output;
    #                                     they share the tables' decay and l2 and start at zero
    standardize_target: bool = True     # regression: train on (y - mean) / std, predict in y's units
    #                                     (vector: centred per dimension, divided by one overall std)
    vector_loss: str = "mse"            # vector targets: "mse" or "cosine" (the angle only)
    target_range: tuple[float, float] | None = None  # regression: predictions squashed into (low, high) by a
    #                                     scaled sigmoid; e.g. (0.5, 5.5) for 1-5 ratings (fastai's y_range)

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        if self.target_range is not None:
            self.target_range = check_range("target_range", self.target_range)
        for width in self.hidden:
            check_positive_int("hidden layer width", width)
        if self.dim is not None:
            check_positive_int("dim", self.dim)
        for column, size in self.dims.items():
            check_positive_int(f"dims[{column!r}]", size)
        acts = (self.activation,) if isinstance(self.activation, str) else tuple(self.activation)
        unknown = [a for a in acts if a not in ACTIVATIONS]
        if unknown:
            raise InputError(f"activation must be one of {', '.join(ACTIVATIONS)}. Got {unknown[0]!r} instead.", param="activation")
        if not isinstance(self.activation, str):
            self.activation = acts
            if len(acts) != len(self.hidden):
                raise InputError(f"activation needs one name per hidden layer ({len(self.hidden)}). "
                                 f"Got {len(acts)} instead.")
        if self.vector_loss not in VECTOR_LOSSES:
            raise InputError(f"vector_loss must be one of {', '.join(VECTOR_LOSSES)}. Got {self.vector_loss!r} "
                             "instead.", param="vector_loss")
        check_fraction("dropout", self.dropout)
        check_fraction("embedding_dropout", self.embedding_dropout)
        for name in ("l2", "weight_decay", "embedding_decay", "init_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InputError(f"{name} must be a number >= 0. Got {value!r} instead.", param=name)

    def activations(self) -> tuple[str, ...]:
        return (self.activation,) * len(self.hidden) if isinstance(self.activation, str) else self.activation


#: The source's token network (Embedding(n, 4) -> Dense(10, relu) -> 8 -> 6 -> 4 -> 1, linear after the
#: first) and its training (RMSprop, 100 epochs, batch 1,000). The target is standardised (see BENCHMARKS.md).
PRESETS: dict[str, tuple[TableConfig, dict[str, Any]]] = {
    "tokens": (TableConfig(dim=4, hidden=(10, 8, 6, 4), activation=("relu", "linear", "linear", "linear")),
               {"optimizer": "rmsprop", "epochs": 100, "batch_size": 1_000}),
}


@register_model
class TableModel(EmbeddingModel):
    """Embedding tables for categorical columns plus numeric inputs, through an MLP, into a Head."""

    kind = "table"
    DEFAULT_OPTIMIZER = "adam"
    DEFAULT_LR = {"sgd": 1e-2, "adagrad": 1e-2, "rmsprop": 1e-3, "adam": 1e-3}  # keras' defaults for rmsprop/adam

    def __init__(self, columns: TableColumns, head: Head, config: TableConfig | None = None, *, seed: int = 0):
        super().__init__()
        self.config = cfg = config or TableConfig()
        low, high = cfg.target_range or (None, None)  # the config's range and loss are the ones the head applies
        self.columns, self.head = columns, replace(head, low=low, high=high, vector_loss=cfg.vector_loss)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.embeddings = nn.ModuleList()
            for column in columns.categorical:
                size = cfg.dims.get(column) or cfg.dim or embedding_size(len(columns.vocabs[column]))
                table = nn.Embedding(len(columns.vocabs[column]) + 1, size)  # + the reserved row
                nn.init.normal_(table.weight, std=cfg.init_scale)
                self.embeddings.append(table)
            width = sum(t.embedding_dim for t in self.embeddings) + len(columns.numeric)
            if cfg.interactions:
                sizes = sorted({t.embedding_dim for t in self.embeddings})
                if len(sizes) > 1:
                    raise InputError(f"interactions need one embedding size for every table; set dim. "
                                     f"Got sizes {sizes} instead.")
                pairs = torch.triu_indices(len(self.embeddings), len(self.embeddings), offset=1)
                self.register_buffer("pairs", pairs, persistent=False)
                width += pairs.shape[1]
            layers: list[nn.Module] = [nn.Dropout(cfg.embedding_dropout)] if cfg.embedding_dropout else []
            for size, activation in zip(cfg.hidden, cfg.activations()):
                layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
                layers += [nn.Dropout(cfg.dropout)] if cfg.dropout else []
                width = size
            self.hidden = nn.Sequential(*layers)
            self.output = nn.Linear(width, head.n_outputs)
            self.biases = nn.ModuleList()
            for column in columns.categorical if cfg.biases else ():
                bias = nn.Embedding(len(columns.vocabs[column]) + 1, head.n_outputs)
                nn.init.zeros_(bias.weight)
                self.biases.append(bias)

    @classmethod
    def for_data(cls, data: TableData, config: TableConfig | None = None, *, seed: int = 0,
                 task: str | None = None, head: Head | None = None) -> "TableModel":
        """A model sized for ``data``, its head fitted to the target (task inferred if None), or ``head``
        when it was fitted elsewhere (say, its classes on every label)."""
        if not isinstance(data, TableData):
            raise InputError(f"a table model is built for TableData (see read_tabular). Got {type(data).__name__}.")
        if task is not None and task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}. Got {task!r} instead.", param="task")
        config = config or TableConfig()
        head = head or Head.fit(data.y, task, target=data.target)
        if head.task in ("regression", "vector") and not config.standardize_target:
            head = replace(head, mean=0.0 if head.task == "regression" else [0.0] * head.n_outputs, std=1.0)
        return cls(data.columns, head, config, seed=seed)

    # -- the EmbeddingModel contract ---------------------------------------------------------------------
    def vocabs(self) -> dict[str, Vocab]:
        return dict(self.columns.vocabs)

    def table_weights(self) -> dict[str, torch.Tensor]:
        return {c: t.weight.detach() for c, t in zip(self.columns.categorical, self.embeddings)}

    def config_dict(self) -> dict[str, Any]:
        return {"network": asdict(self.config), "columns": self.columns.to_dict(), "head": self.head.to_dict()}

    @classmethod
    def from_config(cls, config: dict[str, Any], vocabs: dict[str, Vocab]) -> "TableModel":
        known = {f.name for f in fields(TableConfig)}
        network = TableConfig(**{k: v for k, v in config["network"].items() if k in known})
        return cls(TableColumns.from_dict(config["columns"], vocabs), Head.from_dict(config["head"]), network)

    def forward(self, codes: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """(n, categorical) ids and (n, numeric) values -> (n, n_outputs) network outputs."""
        vectors = [table(codes[:, j]) for j, table in enumerate(self.embeddings)]
        parts = vectors + [numbers]
        if self.config.interactions and len(vectors) > 1:
            stacked = torch.stack(vectors, dim=1)                        # (n, tables, dim)
            dots = stacked @ stacked.transpose(1, 2)                     # (n, tables, tables)
            parts.append(dots[:, self.pairs[0], self.pairs[1]])          # (n, pairs)
        out = self.output(self.hidden(torch.cat(parts, dim=1)))
        for j, bias in enumerate(self.biases):
            out = out + bias(codes[:, j])
        return out

    def _check(self, data: Any) -> TableData:
        if not isinstance(data, TableData):
            raise InputError(f"a table model trains on TableData (see read_tabular). Got {type(data).__name__}.")
        if data.columns is not self.columns:
            raise InputError("the data was encoded with other columns than this model's; use TableModel.for_data.")
        return data

    def holdout_units(self, data: TableData) -> tuple[int, str]:
        return len(self._check(data)), "rows"

    def hold_out(self, data: TableData, held: np.ndarray) -> tuple[TableData, TableData]:
        return hold_out_rows(data, held)

    def training_task(self, data: TableData, validation: TableData | None, *, optimizer: str, lr: float,
                      rng: np.random.Generator) -> AutogradTask:
        target = self.head.encode(self._check(data).y)
        codes, numbers = torch.from_numpy(data.codes), torch.from_numpy(data.numbers)
        tables = list(self.embeddings.parameters()) + list(self.biases.parameters())
        dense = [p for name, p in self.named_parameters() if not name.startswith(("embeddings.", "biases."))]
        groups = [{"params": tables, "weight_decay": self.config.embedding_decay},
                  {"params": dense, "weight_decay": self.config.weight_decay}]
        torch_optimizer = make_torch_optimizer(optimizer, groups, lr)
        l2, head = self.config.l2, self.head

        def loss_fn(model: "TableModel", codes: torch.Tensor, numbers: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            loss = head.loss(model(codes, numbers), y)
            if l2:
                tables = list(enumerate(model.embeddings)) + list(enumerate(model.biases))
                loss = loss + l2 * sum((t(codes[:, j]) ** 2).sum() for j, t in tables)
            return loss

        validate, (monitor, mode) = None, ("loss", "min")
        if validation is not None:
            val_inputs = (torch.from_numpy(self._check(validation).codes), torch.from_numpy(validation.numbers))
            val_target = head.encode(validation.y)
            monitor, mode = head.monitor

            def validate() -> dict[str, float]:
                return head.metrics(self(*val_inputs), val_target)

        return AutogradTask(self, (codes, numbers, target), loss_fn, torch_optimizer, validate=validate,
                            monitor=monitor, monitor_mode=mode)

    # -- prediction -----------------------------------------------------------------------------------------
    def encode(self, X: str | os.PathLike | pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``X`` (DataFrame or file) as ids and scaled numbers, unseen categories on the reserved row."""
        frame, where = as_frame(X, self.columns.columns)
        return self.columns.encode(frame, where)

    def outputs(self, X: str | os.PathLike | pd.DataFrame) -> torch.Tensor:
        """(n, n_outputs) network outputs for the rows of ``X``, computed in chunks in eval mode."""
        codes, numbers = self.encode(X)
        self.eval()
        with torch.no_grad():
            chunks = [self(torch.from_numpy(codes[i:i + PREDICT_CHUNK]), torch.from_numpy(numbers[i:i + PREDICT_CHUNK]))
                      for i in range(0, len(codes), PREDICT_CHUNK)]
        return torch.cat(chunks) if chunks else torch.zeros(0, self.head.n_outputs)

    def predict(self, X: str | os.PathLike | pd.DataFrame) -> np.ndarray:
        """Predictions for the rows of ``X``: numbers in the target's units, class labels, or (n, dim) vectors."""
        return self.head.predict(self.outputs(X))

    def predict_proba(self, X: str | os.PathLike | pd.DataFrame) -> np.ndarray:
        """(n, classes) class probabilities, columns in the order of ``self.classes``."""
        return self.head.probabilities(self.outputs(X))

    @property
    def classes(self) -> list:
        return list(self.head.classes)

    def embed(self, codes: np.ndarray) -> np.ndarray:
        """(n, sum of dims) float32: each row's embedding vectors, concatenated in column order."""
        with torch.no_grad():
            ids = torch.from_numpy(np.asarray(codes, dtype=np.int64))
            parts = [t.weight[ids[:, j]] for j, t in enumerate(self.embeddings)]
            return torch.cat(parts, dim=1).numpy() if parts else np.zeros((len(ids), 0), np.float32)
