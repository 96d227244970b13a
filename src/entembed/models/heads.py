"""Output heads for supervised models: regression (MSE), binary (logistic), multiclass (softmax), and vector
(multi-output regression: one target vector a row, MSE or cosine loss).

A head turns targets into tensors, computes the summed loss, turns network outputs into predictions,
and reports the task's metrics (RMSE and MAE; accuracy, log-loss and AUC; RMSE and mean cosine). It is
JSON-serialisable so a saved model predicts in the same units and classes it was trained with.

A vector target (say, a key's trained embedding, for cold start from side features) is centred per
dimension and divided by one overall scale, not standardised per dimension: a common scale keeps the
geometry of the vectors (their angles), which is what neighbour search reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..errors import InputError, check_range
from ..evaluate import roc_auc

__all__ = ["TASKS", "VECTOR_LOSSES", "Head", "infer_task"]

TASKS = ("regression", "binary", "multiclass", "vector")
#: Losses of a vector head: squared error per dimension, or one minus the cosine of prediction and target.
VECTOR_LOSSES = ("mse", "cosine")


def infer_task(y: Any) -> str:
    """'vector' for a 2-D array of targets, 'binary' for two distinct values, 'multiclass' for
    strings/booleans/few integers, else 'regression'."""
    if np.ndim(y) == 2:
        return "vector"
    values = pd.Series(np.asarray(y).ravel())
    distinct = values.dropna().unique()
    if len(distinct) < 2:
        raise InputError(f"the target has a single value ({distinct[0] if len(distinct) else 'none'!r}); "
                         "expected at least two distinct values.")
    if len(distinct) == 2:
        return "binary"
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric:
        return "multiclass"
    as_float = values.astype(float)
    if np.all(np.mod(as_float, 1) == 0) and len(distinct) <= 20 and len(distinct) < len(values) / 20:
        return "multiclass"
    return "regression"


@dataclass
class Head:
    """The task of a model's output layer, with what it learned about the target (scale or classes)."""

    task: str
    classes: list = field(default_factory=list)   # class labels in output order (binary and multiclass)
    mean: float | list[float] = 0.0                 # regression targets are standardised for training
    std: float = 1.0                                #   (vector: a mean per dimension, one overall std)
    target: str = "target"                          # the target column's name, for messages
    low: float | None = None                        # regression: predictions squashed into (low, high) by a
    high: float | None = None                       # scaled sigmoid (fastai's y_range), in target units
    vector_loss: str = "mse"                        # vector: "mse" or "cosine"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}. Got {self.task!r} instead.", param="task")
        if self.vector_loss not in VECTOR_LOSSES:
            raise InputError(f"vector_loss must be one of {', '.join(VECTOR_LOSSES)}. Got {self.vector_loss!r} "
                             "instead.", param="vector_loss")
        if self.low is not None or self.high is not None:
            self.low, self.high = check_range("a target range", (self.low, self.high))
            if self.task != "regression":
                raise InputError(f"a target range is for regression; the task here is {self.task}.")

    @classmethod
    def fit(cls, y: Any, task: str | None = None, *, target: str = "target") -> "Head":
        """A head for targets ``y``: the task (inferred if None), and the scale or the classes."""
        task = task or infer_task(y)
        if task == "vector":
            return cls._fit_vectors(y, target)
        if np.ndim(y) == 2:
            raise InputError(f"target {target!r} is a table of {np.shape(y)[1]} columns; task {task!r} needs one "
                             "value a row (task 'vector' takes a vector a row).")
        values = pd.Series(np.asarray(y).ravel())
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise InputError(f"target {target!r} is missing in row {row + 1}.")
        if task == "regression":
            as_float = pd.to_numeric(values, errors="coerce")
            if as_float.isna().any():
                row = int(np.flatnonzero(as_float.isna().to_numpy())[0])
                raise InputError(f"target {target!r} row {row + 1}: expected a number for regression, "
                                 f"got {values.iloc[row]!r}.")
            std = float(as_float.std(ddof=0))
            if std == 0:
                raise InputError(f"target {target!r} has a single value ({as_float.iloc[0]!r}); "
                                 "expected at least two distinct values.")
            return cls(task, mean=float(as_float.mean()), std=std, target=target)
        classes = sorted(values.unique().tolist(), key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise InputError(f"target {target!r} has a single value ({classes[0]!r}); expected at least two classes.")
        if task == "binary" and len(classes) != 2:
            raise InputError(f"task 'binary' needs exactly two classes in {target!r}. Got {len(classes)}.", param="task")
        return cls(task, classes=[_plain(c) for c in classes], target=target)

    @classmethod
    def _fit_vectors(cls, y: Any, target: str) -> "Head":
        """A vector head: the mean of each dimension and the overall std of the centred targets."""
        vectors = np.asarray(y, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] < 1:
            raise InputError(f"target {target!r}: task 'vector' needs a 2-D array (rows, dimensions). Got shape "
                             f"{vectors.shape} instead.")
        bad = ~np.isfinite(vectors).all(axis=1)
        if bad.any():
            raise InputError(f"target {target!r} row {int(np.argmax(bad)) + 1}: expected finite numbers.")
        mean = vectors.mean(axis=0)
        std = float(np.sqrt(np.mean((vectors - mean) ** 2)))
        if len(vectors) < 2 or std == 0:
            raise InputError(f"target {target!r}: the {len(vectors)} target vectors are all equal; expected at "
                             "least two different vectors.")
        return cls("vector", mean=mean.tolist(), std=std, target=target)

    @property
    def n_outputs(self) -> int:
        if self.task == "vector":
            return len(self.mean)
        return len(self.classes) if self.task == "multiclass" else 1

    def encode(self, y: Any) -> torch.Tensor:
        """Targets as the tensor the loss expects (standardised floats, 0/1 floats, or class indices)."""
        if self.task == "vector":
            vectors = np.asarray(y, dtype=np.float64)
            if vectors.ndim != 2 or vectors.shape[1] != self.n_outputs:
                raise InputError(f"target {self.target!r}: expected vectors of {self.n_outputs} numbers. Got shape "
                                 f"{vectors.shape} instead.")
            return torch.tensor((vectors - np.asarray(self.mean)) / self.std, dtype=torch.float32)
        values = pd.Series(np.asarray(y).ravel())
        if self.task == "regression":
            return torch.tensor(((values.astype(float) - self.mean) / self.std).to_numpy(), dtype=torch.float32)
        index = pd.Index(self.classes).get_indexer(values.map(_plain))
        if (index < 0).any():
            unknown = values.iloc[int(np.flatnonzero(index < 0)[0])]
            raise InputError(f"target {self.target!r}: class {unknown!r} was not seen in training "
                             f"(classes: {', '.join(map(repr, self.classes))}).")
        dtype = torch.float32 if self.task == "binary" else torch.int64
        return torch.tensor(index, dtype=dtype)

    def standardized(self, output: torch.Tensor) -> torch.Tensor:
        """Regression: (n,) predictions in standardised units, squashed into the target range if one is set;
        vector: the (n, dim) outputs as they are."""
        if self.task == "vector":
            return output
        values = output.squeeze(1)
        if self.low is None:
            return values
        low, high = (self.low - self.mean) / self.std, (self.high - self.mean) / self.std
        return low + (high - low) * torch.sigmoid(values)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Summed loss of a batch; ``output`` is (n, n_outputs)."""
        if self.task == "regression":
            return F.mse_loss(self.standardized(output), target, reduction="sum")
        if self.task == "vector":
            if self.vector_loss == "cosine":   # the angle of the vectors in target units (centre added back)
                mean = output.new_tensor(self.mean) / self.std
                return (1 - F.cosine_similarity(output + mean, target + mean, dim=1)).sum()
            return F.mse_loss(output, target, reduction="sum") / output.shape[1]  # per dimension, summed over rows
        if self.task == "binary":
            return F.binary_cross_entropy_with_logits(output.squeeze(1), target, reduction="sum")
        return F.cross_entropy(output, target, reduction="sum")

    def probabilities(self, output: torch.Tensor) -> np.ndarray:
        """(n, n_classes) class probabilities."""
        if self.task in ("regression", "vector"):
            raise InputError(f"predict_proba is for classification; this model does {self.task} regression.")
        if self.task == "binary":
            p = torch.sigmoid(output.squeeze(1)).numpy()
            return np.stack([1 - p, p], axis=1)
        return torch.softmax(output, dim=1).numpy()

    def predict(self, output: torch.Tensor) -> np.ndarray:
        """Predictions in the target's own units or labels ((n, dim) float32 for a vector head)."""
        if self.task == "vector":
            return (output.numpy().astype(np.float64) * self.std + np.asarray(self.mean)).astype(np.float32)
        if self.task == "regression":
            return self.standardized(output).numpy().astype(np.float64) * self.std + self.mean
        return np.asarray(self.classes, dtype=object)[self.probabilities(output).argmax(1)]

    def metrics(self, output: torch.Tensor, target: torch.Tensor, prefix: str = "val_") -> dict[str, float]:
        """RMSE and MAE (regression, in target units); RMSE per dimension and the mean cosine of prediction and
        target (vector); accuracy, log-loss and AUC (classification)."""
        if self.task == "vector":
            mean = output.new_tensor(self.mean) / self.std
            error = (output - target).numpy().astype(np.float64) * self.std
            cosine = F.cosine_similarity(output + mean, target + mean, dim=1)
            return {f"{prefix}rmse": float(np.sqrt(np.mean(error ** 2))), f"{prefix}cosine": float(cosine.mean())}
        if self.task == "regression":
            error = (self.standardized(output) - target).numpy().astype(np.float64) * self.std
            return {f"{prefix}rmse": float(np.sqrt(np.mean(error ** 2))), f"{prefix}mae": float(np.mean(np.abs(error)))}
        proba = self.probabilities(output)
        labels = target.numpy().astype(np.int64)
        picked = np.clip(proba[np.arange(len(labels)), labels], 1e-15, 1.0)
        result = {f"{prefix}accuracy": float((proba.argmax(1) == labels).mean()),
                  f"{prefix}log_loss": float(-np.log(picked).mean())}
        if self.task == "binary" and 0 < labels.sum() < len(labels):
            result[f"{prefix}auc"] = roc_auc(labels, proba[:, 1])
        return result

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Head":
        return cls(**data)

    @property
    def monitor(self) -> tuple[str, str]:
        """The validation metric early stopping watches, and whether higher is better."""
        if self.task == "vector":
            return ("val_cosine", "max") if self.vector_loss == "cosine" else ("val_rmse", "min")
        return ("val_rmse", "min") if self.task == "regression" else ("val_log_loss", "min")


def _plain(value: Any) -> Any:
    """numpy scalars as plain Python values (JSON-serialisable class labels)."""
    return value.item() if isinstance(value, np.generic) else value
