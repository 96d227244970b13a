"""The contract every model kind meets, so one Trainer, one folder format and one query API serve all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator, Protocol

import torch

from ..embeddings import Embeddings
from ..vocab import Vocab

__all__ = ["EmbeddingModel", "TrainingTask", "MODEL_KINDS", "register_model"]

MODEL_KINDS: dict[str, type["EmbeddingModel"]] = {}


def register_model(cls: type["EmbeddingModel"]) -> type["EmbeddingModel"]:
    """Class decorator: make a model kind loadable from its folder by ``cls.kind``."""
    MODEL_KINDS[cls.kind] = cls
    return cls


class TrainingTask(Protocol):
    """What a model hands the Trainer for one fit: batches, a step, and validation metrics."""

    n_samples: int            # training samples per epoch (negatives included)
    default_batch_size: int   # chosen from the data size when the user gives none
    monitor: str              # metric early stopping watches ("val_auc", "loss", ...)
    monitor_mode: str         # "max" or "min"

    def batches(self, batch_size: int, rng: "Any") -> Iterator[Any]: ...
    def step(self, batch: Any) -> tuple[float, int]: ...   # (summed loss, samples in the batch)
    def validate(self) -> dict[str, float]: ...


class EmbeddingModel(torch.nn.Module, ABC):
    """A torch module whose named embedding tables, each with a Vocab, are the result of training."""

    kind: ClassVar[str]

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
    def training_task(self, data: Any, *, settings: Any, rng: Any) -> TrainingTask:
        """Prepare ``data`` for training with the Trainer's settings."""

    @property
    def tables(self) -> dict[str, Embeddings]:
        """Table name -> Embeddings (float32 vectors with their keys), the trained result."""
        weights = self.table_weights()
        return {name: Embeddings(weights[name].detach().cpu().numpy()[: len(vocab)], vocab)
                for name, vocab in self.vocabs().items()}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(v)}x{self.table_weights()[n].shape[1]}" for n, v in self.vocabs().items())
        return f"{type(self).__name__}({sizes})"
