"""entembed: learn neural-network embeddings of discrete things from a supervised task, then use them.

Public API: Vocab, Pairs and loaders, models, the Trainer, Embeddings, save/load, the train_* shortcuts.

Layers: each module imports only from its own layer or the ones below it, never in a circle
(tests/test_layers.py checks it; LAYERS there is the list):

    __main__, cli                         the command line: parses, calls the library, prints
    demo, sklearn, protocols              built-in demos; the scikit-learn transformer; evaluation protocols
    api, foldin, coldstart,               train_pairs / train_table / train_text / train_next_item, predict_frame;
    checkpoints, distributed              new keys for trained models (add_to_folder, train_more, fold_in_items);
                                          cold start from features (a table model with a vector head);
                                          checkpoints of an unfinished run, to resume it exactly after a kill;
                                          the pair model trained over processes (torchrun)
    storage                               model folders (save_model, load, Checkpoint)
    train                                 the one Trainer, TrainSettings, TrainState, History, the validation split
    models                                pair (+ pair_kernel, pair_torch), tabular, text, next_item, bags, heads,
                                          autograd, foldin (new rows from links)
    data                                  readers, vocab-encoded arrays, negative sampling, synthetic data
    embeddings, evaluate                  the trained result and its queries; metrics
    index, vocab                          exact search; string <-> id
    atomic, errors, version               write-then-rename; errors; the version
"""

import os as _os

from .version import __version__

# OpenMP workers (torch's and numba's share one libgomp) spin between parallel regions by default. The pair
# trainer runs two or three short regions a step, and on a shared machine each then waits for a descheduled
# spinning thread: measured 3-7x slower under load, while sleeping costs microseconds. libgomp reads this
# once, when torch is first imported, so it is set before that; a value the user chose is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The public API, imported on first use (PEP 562) so that `entembed --help` and the wiki extractor do not
# pay for torch and numba: name -> module that defines it.
_EXPORTS = {
    **dict.fromkeys(["Books", "Pairs", "PlantedGraph", "TableData", "TokenStudy", "planted_books", "read_books",
                     "read_pairs", "read_tabular", "token_study"], ".data"),
    "Bags": ".data.bags", "Interactions": ".data.sequences", "read_interactions": ".data.sequences",
    "TextEncoder": ".data.text", "tokenize": ".data.text",
    "Embeddings": ".embeddings",
    "TextData": ".data.text", "read_text": ".data.text",
    **dict.fromkeys(["EntembedError", "InputError", "ModelFileError", "UnknownKeyError"], ".errors"),
    **dict.fromkeys(["EmbeddingModel", "PairConfig", "PairModel", "TableConfig", "TableModel",
                     "BagConfig", "NextItemConfig", "NextItemModel", "TextModel"], ".models"),
    **dict.fromkeys(["train_pairs", "train_table", "train_text", "train_next_item", "predict_frame"], ".api"),
    **dict.fromkeys(["add_to_folder", "add_from_features", "add_items_to_folder", "cold_start_key", "fold_in_key",
                     "fold_in_items", "train_more"], ".foldin"),
    **dict.fromkeys(["train_side_model", "save_side_model", "load_side_model", "side_vectors"], ".coldstart"),
    **dict.fromkeys(["FoldIn", "fold_in_pairs"], ".models.foldin"),
    "Checkpoint": ".storage", "load": ".storage", "save_model": ".storage",
    **dict.fromkeys(["History", "Trainer", "TrainSettings", "TrainState", "fit"], ".train"),
    "Vocab": ".vocab",
}

__all__ = ["Books", "Checkpoint", "EmbeddingModel", "Embeddings", "EntembedError", "History", "InputError",
           "ModelFileError", "UnknownKeyError", "TextData", "read_text", "train_pairs", "predict_frame",
           "PairConfig", "PairModel", "Pairs", "PlantedGraph", "Trainer", "TrainSettings", "TrainState", "Vocab",
           "__version__",
           "fit", "load", "planted_books", "read_books", "read_pairs", "save_model",
           "TableConfig", "TableData", "TableModel", "TokenStudy", "read_tabular", "token_study", "train_table",
           "Bags", "BagConfig", "Interactions", "NextItemConfig", "NextItemModel", "TextEncoder", "TextModel",
           "read_interactions", "tokenize", "train_next_item", "train_text",
           "FoldIn", "add_to_folder", "add_from_features", "add_items_to_folder", "cold_start_key", "fold_in_items",
           "fold_in_key", "fold_in_pairs", "train_more", "train_side_model", "save_side_model", "load_side_model",
           "side_vectors"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'entembed' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
