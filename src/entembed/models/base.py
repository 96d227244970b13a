"""The contract every model kind meets, so one Trainer, one folder format and one query API serve all.

Every kind is built the same way, ``Model.for_data(data, config, seed=...)``, and trained by
``Trainer(settings).fit(model, data)``. The Trainer draws the validation split; the model says what its
units are (pairs, rows, users) and how to hold some of them out.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator, Protocol

import numpy as np
import torch

from ..embeddings import Embeddings
from ..vocab import Vocab

__all__ = ["EmbeddingModel", "TrainingTask", "MODEL_KINDS", "register_model", "hold_out_rows"]

MODEL_KINDS: dict[str, type["EmbeddingModel"]] = {}


def register_model(cls: type["EmbeddingModel"]) -> type["EmbeddingModel"]:
    """Class decorator: make a model kind loadable from its folder by ``cls.kind``."""
    MODEL_KINDS[cls.kind] = cls
    return cls


def hold_out_rows(data: Any, held: np.ndarray) -> tuple[Any, Any]:
    """(the other rows, the ``held`` rows) of row data with ``len`` and ``take`` (tables, texts)."""
    kept = np.ones(len(data), dtype=bool)
    kept[held] = False
    return data.take(np.flatnonzero(kept)), data.take(held)


#: On small data, train at least this many steps by default (p15-sized data converges by then).
MIN_STEPS = 1_000


def default_epochs(steps_per_epoch: int) -> int:
    """Epochs when the settings give none: 10, or more on small data so that training takes >= MIN_STEPS
    steps (at most 200)."""
    return max(10, min(200, math.ceil(MIN_STEPS / max(steps_per_epoch, 1))))


class TrainingTask(Protocol):
    """What a model hands the Trainer for one fit: batches, a step, and validation metrics. A task may also
    have ``default_epochs`` (an int) where its steps are not the unit of learning the rule above counts."""

    n_samples: int            # training samples per epoch (negatives included)
    default_batch_size: int   # chosen from the data size when the user gives none
    monitor: str              # metric early stopping watches ("val_auc", "loss", ...)
    monitor_mode: str         # "max" or "min"

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[Any]: ...
    def step(self, batch: Any) -> tuple[float, int]: ...   # (summed loss, samples in the batch)
    def validate(self) -> dict[str, float]: ...


class EmbeddingModel(torch.nn.Module, ABC):
    """A torch module whose named embedding tables, each with a Vocab, are the result of training."""

    kind: ClassVar[str]
    #: The optimizer used when the settings name none.
    DEFAULT_OPTIMIZER: ClassVar[str]
    #: The optimizers this kind offers, each with the learning rate used when the settings give none.
    DEFAULT_LR: ClassVar[dict[str, float]]

    _tables: dict[str, Embeddings] | None = None

    @classmethod
    @abstractmethod
    def for_data(cls, data: Any, config: Any = None, *, seed: int = 0) -> "EmbeddingModel":
        """An untrained model sized for ``data`` (its vocabs, columns and target)."""

    @abstractmethod
    def vocabs(self) -> dict[str, Vocab]:
        """Table name -> Vocab naming its rows."""

    @abstractmethod
    def table_weights(self) -> dict[str, torch.Tensor]:
        """Table name -> (rows, dim) weight tensor (rows may exceed the vocab by reserved rows)."""

    @abstractmethod
    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (JSON-serialisable)."""

    @classmethod
    @abstractmethod
    def from_config(cls, config: dict[str, Any], vocabs: dict[str, Vocab]) -> "EmbeddingModel":
        """An untrained model of this kind; weights are filled in by ``load_state_dict``."""

    @abstractmethod
    def holdout_units(self, data: Any) -> tuple[int, str]:
        """How many units of ``data`` a validation split chooses among, and what they are called."""

    @abstractmethod
    def hold_out(self, data: Any, held: np.ndarray) -> tuple[Any, Any]:
        """(training data, validation data) with the units ``held`` (sorted indices) held out."""

    @abstractmethod
    def training_task(self, data: Any, validation: Any, *, optimizer: str, lr: float,
                      rng: np.random.Generator) -> TrainingTask:
        """Prepare ``data`` for training (``validation``, from ``hold_out``, may be None)."""

    @property
    def tables(self) -> dict[str, Embeddings]:
        """Table name -> Embeddings: read-only views of the trained tables, built once per fit or load."""
        if self._tables is None:
            weights = self.table_weights()
            self._tables = {name: Embeddings(weights[name].detach().cpu().numpy()[: len(vocab)], vocab, copy=False)
                            for name, vocab in self.vocabs().items()}
        return self._tables

    def clear_tables(self) -> None:
        """Before the weights change: the Embeddings handed out keep a copy of the vectors as they are, and the
        next ``tables`` builds new views. The Trainer calls it before a fit and after every epoch."""
        for embeddings in (self._tables or {}).values():
            embeddings.detach()
        self._tables = None

    def optimizer_tensors(self) -> tuple[str, dict[str, torch.Tensor]] | None:
        """(optimizer name, its state as named tensors) to save beside the weights, so that training again
        continues where it stopped; None when the model keeps none (the default)."""
        return None

    def load_optimizer_tensors(self, optimizer: str, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what ``optimizer_tensors`` gave (a ValueError naming a tensor that does not fit)."""
        raise ValueError(f"a {self.kind} model keeps no optimizer state")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self.clear_tables()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(v)}x{self.table_weights()[n].shape[1]}" for n, v in self.vocabs().items())
        return f"{type(self).__name__}({sizes})"
