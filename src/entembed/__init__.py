"""entembed: learn neural-network embeddings of discrete things from a supervised task, then use them.

Public API: Vocab, Pairs and loaders, models, the Trainer, Embeddings, save/load.
"""

__version__ = "0.1.0"

import os as _os

# OpenMP workers (torch's and numba's share one libgomp) spin between parallel regions by default. The pair
# trainer runs two or three short regions a step, and on a shared machine each then waits for a descheduled
# spinning thread: measured 3-7x slower under load, while sleeping costs microseconds. libgomp reads this
# once, when torch is first imported, so it is set before that; a value the user chose is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .data import Books, Pairs, PlantedGraph, planted_books, read_books, read_pairs
from .data import TableData, TokenStudy, read_tabular, token_study
from .embeddings import Embeddings
from .errors import EntembedError, InputError, ModelFileError
from .models import EmbeddingModel, PairConfig, PairModel
from .models import TableConfig, TableModel, train_table
from .data.bags import Bags
from .data.sequences import Interactions, read_interactions
from .data.text import TextEncoder, tokenize
from .models import BagConfig, NextItemConfig, NextItemModel, TextModel, train_next_item, train_text
from .storage import load, save_model
from .train import History, Trainer, TrainSettings, fit
from .vocab import Vocab

__all__ = ["Books", "EmbeddingModel", "Embeddings", "EntembedError", "History", "InputError", "ModelFileError",
           "PairConfig", "PairModel", "Pairs", "PlantedGraph", "Trainer", "TrainSettings", "Vocab", "__version__",
           "fit", "load", "planted_books", "read_books", "read_pairs", "save_model",
           "TableConfig", "TableData", "TableModel", "TokenStudy", "read_tabular", "token_study", "train_table",
           "Bags", "BagConfig", "Interactions", "NextItemConfig", "NextItemModel", "TextEncoder", "TextModel",
           "read_interactions", "tokenize", "train_next_item", "train_text"]
