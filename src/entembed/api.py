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

from .data.files import as_frame, read_table
from .data.pairs import Pairs
from .data.sequences import Interactions
from .data.tables import TableColumns, TableData, read_tabular
from .data.text import TextData, TextEncoder
from .errors import EntembedError
from .models import BagConfig, NextItemConfig, NextItemModel, PairConfig, PairModel, TableConfig, TableModel, TextModel
from .models.base import EmbeddingModel
from .models.heads import Head
from .train import StateCallback, Trainer, TrainSettings, TrainState, validation_split

__all__ = ["train_pairs", "train_table", "train_text", "train_next_item", "predict_frame"]


def train_pairs(pairs: Pairs, *, config: PairConfig | None = None, settings: TrainSettings | None = None,
                on_checkpoint: StateCallback | None = None, resume: TrainState | None = None) -> PairModel:
    """Learn left and right embeddings from ``pairs`` (see ``read_pairs`` / ``read_books``); ``on_checkpoint``
    and ``resume`` as in ``Trainer.fit`` (``checkpoints.RunCheckpoint`` writes the states, ``read_checkpoint``
    reads one)."""
    settings = settings or TrainSettings()
    model = PairModel.for_data(pairs, config, seed=settings.seed)
    Trainer(settings).fit(model, pairs, on_checkpoint=on_checkpoint, resume=resume)
    return model


def _held_out_rows(n: int, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) rows for ``settings.validation``: the draw the Trainer itself would make first."""
    return validation_split(n, settings.validation, np.random.default_rng(settings.seed), "rows")


def _head(y: np.ndarray, kept: np.ndarray, task: str | None, target: str) -> Head:
    """The head for a clean hold-out: checked on every label (rows named as in the source) and with the
    classes of every label, but a regression target's scale from the ``kept`` rows only."""
    head = Head.fit(y, task, target=target)
    return Head.fit(y[kept], "regression", target=target) if head.task == "regression" else head


def train_table(source: str | os.PathLike | pd.DataFrame | TableData, *, target: str = "target",
                categorical: Sequence[str] = (), numeric: Sequence[str] = (), task: str | None = None,
                config: TableConfig | None = None, min_count: int = 1, **settings: Any) -> TableModel:
    """Read a table, build a table model for it and train it (Adam unless told).

    ``settings`` are TrainSettings fields (epochs, batch_size, lr, optimizer, seed, validation, patience,
    quiet, threads). From a file or DataFrame, the validation rows are held out before the vocabularies,
    numeric scales and target scale are fitted; from TableData (already encoded) the Trainer holds rows out.
    The trained model has ``.history``, ``.tables`` (column -> Embeddings) and ``predict``.
    """
    settings = TrainSettings(**settings)
    if isinstance(source, TableData):
        model = TableModel.for_data(source, config, seed=settings.seed, task=task)
        Trainer(settings).fit(model, source)
        return model
    frame, where = as_frame(source, [target, *categorical, *numeric])
    data = read_tabular(frame, target=target, categorical=categorical, numeric=numeric, min_count=min_count,
                        where=where)  # every row checked, and named as in the source
    kept, held = _held_out_rows(len(frame), settings)
    head, validation = _head(data.y, kept, task, target), None
    if len(held):
        columns = TableColumns.fit(frame.iloc[kept], categorical, numeric, min_count=min_count, where=where)
        data, validation = (TableData(*columns.encode(frame.iloc[rows], where), data.y[rows], columns, target)
                            for rows in (kept, held))
    model = TableModel.for_data(data, config, seed=settings.seed, head=head)
    Trainer(settings).fit(model, data, validation=validation)
    return model


def train_text(source: str | os.PathLike | pd.DataFrame, *, text: str, label: str, task: str | None = None,
               encoder: TextEncoder | None = None, config: BagConfig | None = None,
               settings: TrainSettings | None = None) -> TextModel:
    """Learn word embeddings from the ``text`` column by predicting the ``label`` column. The validation
    rows are held out before the vocabulary is fitted."""
    settings, encoder = settings or TrainSettings(), encoder or TextEncoder()
    frame, _ = as_frame(source, [text, label])
    labels = frame[label].to_numpy()
    kept, held = _held_out_rows(len(frame), settings)
    head = _head(labels, kept, task, label)
    vocab, bags = encoder.fit_encode(frame[text].iloc[kept], column=text)
    data = TextData(bags, labels[kept], vocab, encoder, text, label)
    validation = TextData(encoder.encode(frame[text].iloc[held], vocab), labels[held], vocab, encoder, text,
                          label) if len(held) else None
    model = TextModel.for_data(data, config, seed=settings.seed, head=head)
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
        raise EntembedError(f"{getattr(model, 'folder', None) or 'this model'}: a {model.kind!r} model does not "
                            "predict; train a table or text model.")
    frame = source if isinstance(source, pd.DataFrame) else read_table(source)
    result = frame.copy()
    result["prediction"] = model.predict(frame)
    if model.head.task != "regression":
        proba = model.predict_proba(frame)
        for j, label in enumerate(model.classes):
            result[f"proba_{label}"] = proba[:, j]
    return result
