"""Library entry points: one call from data to a trained model, and predictions as a table.

Each ``train_*`` is a thin wrapper over the one front door, ``Model.for_data(data, config)`` then
``Trainer(settings).fit(model, data)``. The table and text wrappers read raw rows, so they hold the
validation rows out before fitting vocabularies, scales and the target's head: a clean hold-out.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .data.files import read_table
from .data.pairs import Pairs
from .data.sequences import Interactions
from .data.tables import TableData, as_frame, read_tabular
from .data.text import TextEncoder, read_text, text_frame
from .errors import EntembedError
from .models import BagConfig, NextItemConfig, NextItemModel, PairConfig, PairModel, TableConfig, TableModel, TextModel
from .models.base import EmbeddingModel
from .train import Trainer, TrainSettings, validation_split

__all__ = ["train_pairs", "train_table", "train_text", "train_next_item", "predict_frame"]


def train_pairs(pairs: Pairs, *, config: PairConfig | None = None, settings: TrainSettings | None = None
                ) -> PairModel:
    """Learn left and right embeddings from ``pairs`` (see ``read_pairs`` / ``read_books``)."""
    settings = settings or TrainSettings()
    model = PairModel.for_data(pairs, config, seed=settings.seed)
    Trainer(settings).fit(model, pairs)
    return model


def _held_out_rows(n: int, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """The rows the Trainer would hold out for ``settings`` (the same draw from the same seed)."""
    return validation_split(n, settings.validation, np.random.default_rng(settings.seed), "rows")


def train_table(source: str | os.PathLike | pd.DataFrame | TableData, *, target: str = "target",
                categorical: Sequence[str] = (), numeric: Sequence[str] = (), task: str | None = None,
                config: TableConfig | None = None, min_count: int = 1, **settings: Any) -> TableModel:
    """Read a table, build a table model for it and train it (Adam unless told).

    ``settings`` are TrainSettings fields (epochs, batch_size, lr, optimizer, seed, validation, patience,
    quiet, threads). The trained model has ``.history``, ``.tables`` (column -> Embeddings) and ``predict``.
    """
    settings = TrainSettings(**settings)
    if isinstance(source, TableData):  # already encoded: the Trainer holds rows out
        data, validation = source, None
    else:
        frame, where = as_frame(source, [target, *categorical, *numeric])
        options = dict(target=target, categorical=categorical, numeric=numeric, min_count=min_count, where=where)
        data, validation = read_tabular(frame, **options), None  # every row checked and named as in the file
        kept, held = _held_out_rows(len(frame), settings)
        if len(held):
            data = read_tabular(frame.iloc[kept], **options)
            validation = data.like(frame.iloc[held], where)
    model = TableModel.for_data(data, config, seed=settings.seed, task=task)
    Trainer(settings).fit(model, data, validation=validation)
    return model


def train_text(source: str | os.PathLike | pd.DataFrame, *, text: str, label: str, task: str | None = None,
               encoder: TextEncoder | None = None, config: BagConfig | None = None,
               settings: TrainSettings | None = None) -> TextModel:
    """Learn word embeddings from the ``text`` column by predicting the ``label`` column."""
    settings = settings or TrainSettings()
    frame = text_frame(source, text, label)
    data, validation = read_text(frame, text=text, label=label, encoder=encoder), None
    kept, held = _held_out_rows(len(frame), settings)
    if len(held):
        data = read_text(frame.iloc[kept], text=text, label=label, encoder=encoder)
        validation = data.like(frame.iloc[held])
    model = TextModel.for_data(data, config, seed=settings.seed, task=task)
    Trainer(settings).fit(model, data, validation=validation)
    return model


def train_next_item(data: Interactions, *, config: NextItemConfig | None = None,
                    settings: TrainSettings | None = None) -> NextItemModel:
    """Learn item embeddings from interaction histories by predicting each next item."""
    settings = settings or TrainSettings()
    model = NextItemModel.for_data(data, config, seed=settings.seed)
    Trainer(settings).fit(model, data)
    return model


def predict_frame(model: EmbeddingModel, source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The rows of ``source`` with a ``prediction`` column, plus ``proba_<class>`` columns for classifiers."""
    if not isinstance(model, (TableModel, TextModel)):
        raise EntembedError(f"a {model.kind!r} model does not predict; train a table or text model.")
    frame = source if isinstance(source, pd.DataFrame) else read_table(source)
    result = frame.copy()
    result["prediction"] = model.predict(frame)
    if model.head.task != "regression":
        proba = model.predict_proba(frame)
        for j, label in enumerate(model.classes):
            result[f"proba_{label}"] = proba[:, j]
    return result
