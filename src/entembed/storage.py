"""A saved model is a folder: config.json, vocab-<table>.json (one per table), weights.safetensors, history.json, and
optimizer.safetensors where the model keeps optimizer state (pair models: training again continues it).

Nothing is pickled, so loading never runs code from the file. Saving writes a temporary folder beside
the target and renames it into place, so an interrupted save never leaves a half model under that name.
``Checkpoint`` saves the model after every epoch when handed to ``Trainer.fit``.

An approximate-neighbour index of a table (``build_index``, ``entembed index``) lives in ``index/<table>/``;
``load`` hands it to that table's Embeddings, so cosine searches use it, and refuses one built for other
vectors. Saving a model writes a new folder, so an index of older vectors never survives a save.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import warnings
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .ann import AnnIndex
from .atomic import atomic_folder
from .errors import InputError, ModelFileError
from .models.base import MODEL_KINDS, EmbeddingModel
from .train import History, TrainSettings
from .version import __version__
from .vocab import Vocab

__all__ = ["save_model", "load", "Checkpoint", "check_replaceable", "FORMAT", "FORMAT_VERSION", "CHECKPOINT_FOLDER",
           "CHECKPOINT_STATE", "build_index", "index_folder"]

FORMAT = "entembed-model"
FORMAT_VERSION = 1
OPTIMIZER_FILE = "optimizer.safetensors"
#: The subfolder where a run with checkpoints keeps the state of an unfinished run (entembed.checkpoints).
CHECKPOINT_FOLDER, CHECKPOINT_STATE = "checkpoint", "state.json"  # an unfinished run's (checkpoints.py)
INDEX_FOLDER = "index"


def _vocab_files(tables: list[str]) -> dict[str, str]:
    """Table name -> its vocab file name: ``vocab-<name>.json`` with unsafe characters replaced, and a number
    added where two names clean to the same file ("a b" and "a_b")."""
    files, taken = {}, set()
    for table in tables:
        stem = "vocab-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", table)
        name, number = f"{stem}.json", 2
        while name.lower() in taken:  # lower: the two must differ on case-insensitive file systems too
            name, number = f"{stem}-{number}.json", number + 1
        files[table] = name
        taken.add(name.lower())
    return files


def _versions() -> dict[str, str]:
    return {"entembed": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def save_model(model: EmbeddingModel, folder: str | os.PathLike, *, settings: Any = None,
               attachments: dict[str, str | Path] | None = None) -> Path:
    """Write ``model`` to ``folder`` (replacing an older model there only once the new one is complete).

    ``attachments`` maps extra file names to text saved with the model (e.g. the books' infobox metadata), or
    to a folder copied in whole (e.g. a side model, ``side-<table>/``).
    """
    folder = Path(folder).resolve()
    check_replaceable(folder)
    settings = settings if settings is not None else getattr(model, "train_settings", None)
    weights, vocabs = model.table_weights(), model.vocabs()
    files = _vocab_files(list(vocabs))
    tables = {name: {"vocab": files[name], "keys": len(vocab), "rows": int(weights[name].shape[0]),
                     "dim": int(weights[name].shape[1])} for name, vocab in vocabs.items()}
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": model.kind,
              "model": model.config_dict(), "tables": tables,
              "training": asdict(settings) if is_dataclass(settings) else settings,
              "versions": _versions(), "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with atomic_folder(folder) as temporary:
        for name, vocab in vocabs.items():
            vocab.save(temporary / files[name])
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(temporary / "weights.safetensors"), metadata={"format": FORMAT})
        optimizer = model.optimizer_tensors()
        if optimizer is not None:
            save_file({k: v.contiguous() for k, v in optimizer[1].items()}, str(temporary / OPTIMIZER_FILE),
                      metadata={"format": FORMAT, "optimizer": optimizer[0]})
        history = getattr(model, "history", None) or History()
        history.save(temporary / "history.json")
        for name, content in (attachments or {}).items():
            if isinstance(content, Path):
                shutil.copytree(content, temporary / name)
            else:
                (temporary / name).write_text(content, encoding="utf-8")
        (temporary / "config.json").write_text(json.dumps(config, indent=2, default=str), encoding="utf-8")
    return folder


class Checkpoint:
    """An epoch callback for ``Trainer.fit``: saves ``model`` (with its history so far) to ``folder``."""

    def __init__(self, model: EmbeddingModel, folder: str | os.PathLike):
        self.model, self.folder = model, Path(folder)
        check_replaceable(self.folder.resolve())  # refuse a bad folder before training, not after an epoch

    def __call__(self, epoch: int, record: dict) -> None:
        save_model(self.model, self.folder)


def check_replaceable(folder: Path) -> None:
    """Refuse to overwrite anything but an empty folder, an earlier entembed model folder, or the folder of
    an unfinished run (its checkpoint, and what an interrupted checkpoint write left)."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: exists and is not a folder; choose another output path.")
    run = [p for p in folder.iterdir() if p.is_dir() and (p.name.startswith(f".{CHECKPOINT_FOLDER}.") or (
        p.name == CHECKPOINT_FOLDER and (p / CHECKPOINT_STATE).is_file()))]
    if len(run) < len(list(folder.iterdir())) and not _is_model_folder(folder):
        raise ModelFileError(f"{folder}: exists and is not an entembed model folder; refusing to replace it.")


def _is_model_folder(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ModelFileError(f"{path}: file is missing; is {path.parent} a model folder saved by entembed?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc}).") from None


def _load_optimizer(model: EmbeddingModel, path: Path) -> None:
    """Restore the optimizer state saved beside the weights, if any (older folders have none)."""
    if not path.exists():
        return
    try:
        with safe_open(str(path), framework="pt") as handle:
            name = (handle.metadata() or {}).get("optimizer")
        tensors = load_file(str(path))
        if not name:
            raise ValueError("no optimizer name in its metadata")
        model.load_optimizer_tensors(name, tensors)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: damaged or does not fit the model ({exc}).") from None


def load(folder: str | os.PathLike, *, indexes: bool = True) -> EmbeddingModel:
    """Load a model folder; checks every file against config.json and refuses a damaged folder.

    The result has ``.tables``: table name -> Embeddings. With ``indexes``, a table's saved approximate index
    answers its cosine searches (a ModelFileError if it was built for other vectors; a warning and exact
    search if faiss is not installed).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such model folder.")
    config = _read_json(folder / "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{folder / 'config.json'}: not an entembed model config (no format {FORMAT!r}).")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{folder / 'config.json'}: format version {config['format_version']} is newer "
                             f"than this entembed reads ({FORMAT_VERSION}); upgrade entembed.")
    missing = [key for key in ("kind", "model", "tables") if key not in config]
    if missing:
        raise ModelFileError(f"{folder / 'config.json'}: missing {missing[0]!r}; the file is damaged.")
    kind = config.get("kind")
    if kind not in MODEL_KINDS:
        raise ModelFileError(f"{folder / 'config.json'}: unknown model kind {kind!r}; known: "
                             f"{', '.join(sorted(MODEL_KINDS))}.")
    vocabs = {}
    try:
        for name, table in config["tables"].items():
            vocab = Vocab.load(folder / table["vocab"])
            if len(vocab) != table["keys"]:
                raise ModelFileError(f"{folder / table['vocab']}: {len(vocab)} keys, but config.json says "
                                     f"table {name!r} has {table['keys']}.")
            vocabs[name] = vocab
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"{folder / 'config.json'}: the tables entry is damaged ({exc!r}).") from None
    weights_path = folder / "weights.safetensors"
    if not weights_path.is_file():
        raise ModelFileError(f"{weights_path}: file is missing.")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights_path}: damaged or truncated ({exc}).") from None
    try:
        model = MODEL_KINDS[kind].from_config(config["model"], vocabs)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # ValueError: InputError from a config check
        raise ModelFileError(f"{folder / 'config.json'}: the model entry does not match its tables or this "
                             f"entembed's {kind} model ({exc!r}).") from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for key, shape in expected.items():
        if key not in state:
            raise ModelFileError(f"{weights_path}: tensor {key!r} is missing.")
        if tuple(state[key].shape) != shape:
            raise ModelFileError(f"{weights_path}: tensor {key!r} has shape {tuple(state[key].shape)}, "
                                 f"but the vocab and config.json need {shape}.")
    model.load_state_dict({k: state[k] for k in expected})
    _load_optimizer(model, folder / OPTIMIZER_FILE)
    history_path = folder / "history.json"
    model.history = History.from_dict(_read_json(history_path)) if history_path.exists() else History()
    training = config.get("training")
    try:
        model.train_settings = TrainSettings.from_dict(training) if isinstance(training, dict) else None
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{folder / 'config.json'}: the training entry is damaged ({exc}).") from None
    model.folder = folder  # where it came from, for messages
    model.eval()
    if indexes:
        _attach_indexes(model, folder, config)
    return model


def index_folder(folder: str | os.PathLike, table: str) -> Path:
    """Where the approximate index of ``table`` of the model saved in ``folder`` lives: ``index/<table>/``
    (the table's name as in its vocab file, made safe for any file system)."""
    return _index_path(Path(folder), _read_json(Path(folder) / "config.json"), table)


def _index_path(folder: Path, config: dict, table: str) -> Path:
    try:
        vocab_file = config["tables"][table]["vocab"]
    except (KeyError, TypeError):
        raise InputError(f"table must be one of {', '.join(map(repr, config.get('tables', {})))} (the tables of "
                         f"{folder}). Got {table!r} instead.", param="table") from None
    return folder / INDEX_FOLDER / vocab_file.removeprefix("vocab-").removesuffix(".json")


def _attach_indexes(model: EmbeddingModel, folder: Path, config: dict) -> None:
    for name in config["tables"]:
        path = _index_path(folder, config, name)
        if not path.exists():
            continue
        embeddings = model.tables[name]
        try:
            index = AnnIndex.load(path, embeddings.vectors)
        except ImportError as exc:
            warnings.warn(f"{path}: {exc}; searching {name!r} exactly.", stacklevel=3)
            continue
        except ModelFileError as exc:
            raise ModelFileError(f"{exc} (entembed index {folder} --table {name}; or delete {path} to search "
                                 "exactly)") from None
        embeddings.use_index(index)


def build_index(folder: str | os.PathLike, tables: list[str] | None = None, *, progress: bool = False,
                **params: int) -> dict[str, Path]:
    """Build an approximate (HNSW) index of each of ``tables`` (default: all) of the model saved in ``folder``
    and save it in ``index/<table>/``, replacing an older one; returns table -> index folder. ``params`` are
    ``AnnIndex.build``'s (connectivity, ef_construction, ef_search)."""
    model = load(folder, indexes=False)
    names = list(model.tables) if tables is None else tables
    paths = {name: index_folder(folder, name) for name in names}  # unknown tables refused before any work
    for name, path in paths.items():
        AnnIndex.build(model.tables[name].vectors, progress=progress, **params).save(path)
    return paths
