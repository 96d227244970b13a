"""Text model: the words (and word n-grams) of a text column pooled into one vector predict a label.

Kind "text"; its word table is ``tables['words']``. The label goes through the shared ``Head`` (regression,
binary, multiclass). With a binary label each token can be weighted by its naive Bayes log-count ratio, as
NBSVM does (``BagConfig(nb_weights=True)``), the ratios counted on the training rows only.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch

from ..data.bags import Bags
from ..data.text import TextData, TextEncoder
from ..errors import InputError
from ..vocab import Vocab
from .bags import BAG_DEFAULT_LR, PREDICT_CHUNK, BagConfig, BagEncoder, BagTask, bag_optimizer, config_from_dict, nb_log_count_ratios
from .base import EmbeddingModel, hold_out_rows, register_model
from .heads import Head

__all__ = ["TextModel"]


@register_model
class TextModel(EmbeddingModel):
    """Words (and word n-grams) of a text column pooled into one vector, then a head predicts the label."""

    kind = "text"
    DEFAULT_OPTIMIZER = "adagrad"
    DEFAULT_LR = BAG_DEFAULT_LR

    def __init__(self, vocab: Vocab, head: Head, config: BagConfig | None = None,
                 encoder: TextEncoder | None = None, *, text_column: str = "text", seed: int = 0):
        super().__init__()
        self.vocab, self.head = vocab, head
        self.config, self.encoder = config or BagConfig(), encoder or TextEncoder()
        self.text_column = text_column
        if self.config.nb_weights and head.task != "binary":
            raise InputError(f"nb_weights needs a binary label (log-count ratios of two classes); this head does "
                             f"{head.task}.", param="nb_weights")
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
        return cls(vocabs["words"], Head.from_dict(config["head"]), config_from_dict(BagConfig, config["bag"]),
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

    @classmethod
    def for_data(cls, data: TextData, config: BagConfig | None = None, *, seed: int = 0,
                 task: str | None = None, head: Head | None = None) -> "TextModel":
        """A model for the vocabulary of ``data``, its head fitted to the labels (task inferred if None), or
        ``head`` when it was fitted elsewhere (say, its classes on every label)."""
        if not isinstance(data, TextData):
            raise InputError(f"a text model is built for TextData (see read_text). Got {type(data).__name__}.")
        head = head or Head.fit(data.y, task, target=data.label)
        return cls(data.vocab, head, config, data.encoder, text_column=data.text, seed=seed)

    def _check(self, data: Any) -> TextData:
        if not isinstance(data, TextData):
            raise InputError(f"a text model trains on TextData (see read_text). Got {type(data).__name__}.")
        if data.vocab is not self.vocab:
            raise InputError("the texts were encoded with another vocabulary than this model's; use "
                             "TextModel.for_data.")
        return data

    def holdout_units(self, data: TextData) -> tuple[int, str]:
        return len(self._check(data)), "rows"

    def hold_out(self, data: TextData, held: np.ndarray) -> tuple[TextData, TextData]:
        return hold_out_rows(data, held)

    def training_task(self, data: TextData, validation: TextData | None, *, optimizer: str, lr: float,
                      rng: np.random.Generator) -> BagTask:
        """With ``nb_weights``, the token weights are set here from the training rows."""
        target = self.head.encode(self._check(data).y)
        if self.config.nb_weights:
            ratios = nb_log_count_ratios(data.bags, target.numpy() == 1, len(self.vocab))
            self.bags.token_weight.copy_(torch.from_numpy(ratios))
        head = self.head

        def loss_fn(model, starts, ids, target):
            return head.loss(model(starts, ids), target)

        validate, monitor = None, None
        if validation is not None:
            val_bags, val_target = self._check(validation).bags, head.encode(validation.y)
            monitor = head.monitor[0]

            def validate() -> dict[str, float]:
                return head.metrics(self.outputs(val_bags), val_target)

        return BagTask(self, data.bags, target, loss_fn, bag_optimizer(self, self.bags, optimizer, lr),
                       validate=validate, monitor=monitor, default_batch_size=32)
