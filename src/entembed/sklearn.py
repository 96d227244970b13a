"""EntityEmbeddingEncoder: a scikit-learn transformer that learns entity embeddings from a supervised target.

``fit(X, y)`` trains a table model (``entembed.models.tabular``) on X's categorical columns (and numeric
ones) to predict y; ``transform(X)`` replaces each categorical column by its learned vector and passes the
numeric columns through, so any scikit-learn model can use the embeddings as features. Categories that
are missing, unseen in ``fit`` or rarer than ``min_count`` get the table's reserved row.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import MissingExtraError

try:
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtraError("EntityEmbeddingEncoder", "sklearn", "scikit-learn>=1.6") from None

from .api import train_table
from .data.tables import TableColumns, TableData, check_target
from .errors import InputError
from .models.tabular import TableConfig

__all__ = ["EntityEmbeddingEncoder"]


class EntityEmbeddingEncoder(TransformerMixin, BaseEstimator):
    """Learn an embedding per category of each categorical column from ``y``; transform to the vectors.

    categorical_features: "auto" (columns of object, category, string or bool dtype), or column names,
    column indices, or a boolean mask. task: "regression", "binary", "multiclass" or None (inferred from
    y). The other parameters are those of ``TableConfig`` and ``TrainSettings``. After ``fit``,
    ``model_`` is the trained TableModel (``model_.tables[column]`` is that column's ``Embeddings``).
    """

    def __init__(self, *, categorical_features: str | Sequence[Any] = "auto", task: str | None = None,
                 dim: int | None = None, hidden: Sequence[int] = (64, 32), activation: str = "relu",
                 dropout: float = 0.0, l2: float = 0.0, min_count: int = 1, epochs: int = 20,
                 batch_size: int | None = None, lr: float | None = None, optimizer: str = "adam",
                 validation: float = 0.0, patience: int | None = None, random_state: int = 0):
        self.categorical_features = categorical_features
        self.task = task
        self.dim = dim
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2
        self.min_count = min_count
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.validation = validation
        self.patience = patience
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True      # the embeddings are learned from y
        tags.input_tags.allow_nan = True      # missing values map to the reserved row (or the mean)
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    def _frame(self, X: Any, checked: np.ndarray) -> pd.DataFrame:
        """X as a DataFrame with string column names: its own columns if it is one (integer labels become
        "0", "1", ...), else x0, x1, ... from the validated array."""
        if not isinstance(X, pd.DataFrame):
            return pd.DataFrame(checked, columns=[f"x{i}" for i in range(checked.shape[1])])
        names = [str(c) for c in X.columns]
        if len(set(names)) < len(names):
            raise InputError(f"X has columns whose names are equal as strings: {names}; rename them.")
        return X.reset_index(drop=True).set_axis(names, axis=1)

    def _categorical(self, frame: pd.DataFrame) -> list[str]:
        """Names of the categorical columns chosen by ``categorical_features``."""
        chosen = self.categorical_features
        columns = list(frame.columns)
        if isinstance(chosen, str) and chosen == "auto":
            return [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])
                    or pd.api.types.is_bool_dtype(frame[c])]
        if isinstance(chosen, str):
            raise InputError(f"categorical_features must be 'auto', column names, indices or a boolean mask. "
                             f"Got {chosen!r} instead.", param="categorical_features")
        chosen = list(chosen)
        if chosen and all(isinstance(c, (bool, np.bool_)) for c in chosen):
            if len(chosen) != len(columns):
                raise InputError(f"categorical_features mask has {len(chosen)} entries; X has {len(columns)} columns.")
            return [c for c, keep in zip(columns, chosen) if keep]
        names = []
        for c in chosen:
            name = columns[c] if isinstance(c, (int, np.integer)) and 0 <= c < len(columns) else c
            if name not in columns:
                raise InputError(f"categorical_features: no column {c!r}; X has {len(columns)} columns.")
            names.append(name)
        return names

    def fit(self, X: Any, y: Any) -> "EntityEmbeddingEncoder":
        """Learn the embeddings of X's categorical columns from the target ``y``."""
        checked, y = validate_data(self, X, y, dtype=None, ensure_all_finite="allow-nan", ensure_min_samples=2)
        frame = self._frame(X, checked)
        check_target(y)
        categorical = self._categorical(frame)
        numeric = [c for c in frame.columns if c not in categorical]
        config = TableConfig(dim=self.dim, hidden=tuple(self.hidden), activation=self.activation,
                             dropout=self.dropout, l2=self.l2)
        columns = TableColumns.fit(frame, categorical, numeric, min_count=self.min_count)
        codes, numbers = columns.encode(frame)
        data = TableData(codes, numbers, np.asarray(y), columns, target="y")
        self.model_ = train_table(data, task=self.task, config=config, epochs=self.epochs,
                                  batch_size=self.batch_size, lr=self.lr, optimizer=self.optimizer,
                                  validation=self.validation, patience=self.patience, seed=self.random_state,
                                  quiet=True)
        self.categorical_ = categorical
        self.numeric_ = numeric
        self.columns_ = list(frame.columns)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Each categorical column replaced by its embedding vector; numeric columns passed through."""
        check_is_fitted(self)
        checked = validate_data(self, X, reset=False, dtype=None, ensure_all_finite="allow-nan")
        frame = self._frame(X, checked)
        frame.columns = self.columns_
        codes, _ = self.model_.columns.encode(frame)
        vectors = self.model_.embed(codes).astype(np.float64)
        dims = [t.embedding_dim for t in self.model_.embeddings]
        starts = dict(zip(self.categorical_, np.cumsum([0] + dims[:-1])))
        sizes = dict(zip(self.categorical_, dims))
        parts = [vectors[:, starts[c]:starts[c] + sizes[c]] if c in sizes
                 else pd.to_numeric(frame[c]).to_numpy(np.float64, na_value=np.nan)[:, None]
                 for c in self.columns_]
        return np.hstack(parts) if parts else np.zeros((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``column_0 .. column_{dim-1}`` for each categorical column, the name itself for numeric ones."""
        check_is_fitted(self)
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", None)
            input_features = self.columns_ if input_features is None else list(input_features)
        elif len(input_features) != len(self.columns_):
            raise InputError(f"input_features has {len(input_features)} names; X had {len(self.columns_)} columns.")
        elif hasattr(self, "feature_names_in_") and list(map(str, input_features)) != list(map(str, self.feature_names_in_)):
            raise InputError("input_features is not equal to feature_names_in_.")
        sizes = {c: t.embedding_dim for c, t in zip(self.categorical_, self.model_.embeddings)}
        names = []
        for internal, given in zip(self.columns_, input_features):
            names += [f"{given}_{j}" for j in range(sizes[internal])] if internal in sizes else [str(given)]
        return np.asarray(names, dtype=object)
