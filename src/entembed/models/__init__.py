"""Torch models whose weights are embedding tables, looked up by kind when a folder is loaded.

One room per kind: ``pair`` (with its compiled step, ``pair_kernel``), ``tabular``, ``text``, ``next_item``;
``bags`` holds what the text and next-item models share, ``heads`` the output layers and losses of the
supervised ones, ``autograd`` their training step.
"""

from .base import MODEL_KINDS, EmbeddingModel, register_model
from .bags import BagConfig
from .next_item import NextItemConfig, NextItemModel
from .pair import PairConfig, PairModel
from .tabular import TableConfig, TableModel
from .text import TextModel

__all__ = ["MODEL_KINDS", "EmbeddingModel", "register_model", "BagConfig", "NextItemConfig", "NextItemModel",
           "PairConfig", "PairModel", "TableConfig", "TableModel", "TextModel"]
