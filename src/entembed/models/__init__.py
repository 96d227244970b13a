"""Torch models whose weights are embedding tables, looked up by kind when a folder is loaded."""

from .base import MODEL_KINDS, EmbeddingModel, register_model
from .pair import PairConfig, PairModel
from .tabular import TableConfig, TableModel, train_table
from .bag import BagConfig, NextItemConfig, NextItemModel, TextModel, train_next_item, train_text

__all__ = ["MODEL_KINDS", "EmbeddingModel", "PairConfig", "PairModel", "register_model", "TableConfig", "TableModel",
           "train_table",
           "BagConfig", "NextItemConfig", "NextItemModel", "TextModel", "train_next_item", "train_text"]
