"""Torch models whose weights are embedding tables, looked up by kind when a folder is loaded."""

from .base import MODEL_KINDS, EmbeddingModel, register_model
from .pair import PairConfig, PairModel

__all__ = ["MODEL_KINDS", "EmbeddingModel", "PairConfig", "PairModel", "register_model"]
