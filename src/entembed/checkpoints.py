"""Checkpoints of an unfinished run, so that a run killed in the middle of an epoch continues exactly.

A run trained with ``checkpoint_every`` writes ``<output>/checkpoint/`` through ``RunCheckpoint``:
``state.json`` (where the run stands, as ``train.TrainState``, and the run's identity: model kind and config,
training settings, a fingerprint of the data file and how it was read) beside ``tensors.safetensors``
(weights, optimizer state, torch's generator). Each write replaces the folder whole (write, then rename), so a
kill during a write leaves the previous checkpoint. ``read_checkpoint`` refuses a checkpoint of another run
with one line naming what differs, and touches nothing. Saving the finished model replaces the output folder,
checkpoint included. No pickle: JSON and safetensors only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import atomic_folder
from .errors import InputError, ModelFileError
from .storage import CHECKPOINT_FOLDER, CHECKPOINT_STATE, check_replaceable
from .train import TrainSettings, TrainState

__all__ = ["RunCheckpoint", "read_checkpoint", "find_checkpoint", "check_no_unfinished_run", "data_identity",
           "run_identity", "FORMAT", "STATE_FILE", "TENSORS_FILE", "FREE_SETTINGS"]

FORMAT = "entembed-checkpoint"
FORMAT_VERSION = 1
STATE_FILE, TENSORS_FILE = CHECKPOINT_STATE, "tensors.safetensors"
#: Settings a resumed run may change. Threads change hogwild's vectors (bit for bit needs the same count).
FREE_SETTINGS = ("quiet", "threads", "checkpoint_every", "checkpoint_unit")
#: What describes the data file without identifying it: a renamed or moved copy resumes all the same.
_DATA_LABELS = ("file", "bytes")


def data_identity(path: str | os.PathLike, **read_options: Any) -> dict[str, Any]:
    """The data file's name, size and SHA-256 (read in 1 MB blocks), and the options it is read with."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest(), **read_options}


def run_identity(kind: str, config: Any, settings: TrainSettings, data: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed: model kind and config, settings, data (JSON-ready)."""
    return {"kind": kind, "model": asdict(config) if is_dataclass(config) else dict(config),
            "training": {k: v for k, v in asdict(settings).items() if k not in FREE_SETTINGS}, "data": data}


class RunCheckpoint:
    """A ``on_checkpoint`` callback for ``Trainer.fit``: writes each state to ``folder``, replacing the last.

    ``seconds`` and ``writes`` add up the time spent writing (for the benchmark)."""

    def __init__(self, folder: str | os.PathLike, identity: dict[str, Any]):
        self.folder, self.identity = Path(folder), identity
        check_replaceable(self.folder.parent.resolve())  # refuse a bad output before training, not at its end
        self.seconds, self.writes = 0.0, 0

    def __call__(self, state: TrainState) -> None:
        started = time.perf_counter()
        with atomic_folder(self.folder) as temporary:
            save_file({k: v.detach().cpu().contiguous() for k, v in state.tensors.items()},
                      str(temporary / TENSORS_FILE), metadata={"format": FORMAT})
            meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "identity": self.identity,
                    "state": state.to_json()}
            (temporary / STATE_FILE).write_text(json.dumps(meta), encoding="utf-8")
        self.seconds += time.perf_counter() - started
        self.writes += 1


def find_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The checkpoint in ``folder`` (a run's output folder, or its checkpoint folder), or None. A run killed
    between the two renames of a checkpoint write left the previous checkpoint set aside
    (``.checkpoint.<pid>.old``): it is put back under its name and found."""
    folder = Path(folder)
    found = next((c for c in (folder, folder / CHECKPOINT_FOLDER) if (c / STATE_FILE).is_file()), None)
    if found is None and folder.is_dir() and not (folder / CHECKPOINT_FOLDER).exists():
        retired = [c for c in sorted(folder.glob(f".{CHECKPOINT_FOLDER}.*.old")) if (c / STATE_FILE).is_file()]
        if retired:
            found = retired[-1].rename(folder / CHECKPOINT_FOLDER)
    return found


def check_no_unfinished_run(output: str | os.PathLike) -> None:
    """Refuse to start a new run into ``output`` while it holds an unfinished run's checkpoint."""
    found = find_checkpoint(output)
    if found is not None:
        raise InputError(f"{output}: holds the checkpoint of an unfinished run ({found}); continue it with "
                         f"--resume {output}, or remove {found} to start afresh.")


def read_checkpoint(folder: str | os.PathLike, identity: dict[str, Any]) -> TrainState:
    """The state saved in the checkpoint ``folder``, if it is of the run ``identity`` describes; another
    run's is refused (an InputError naming what differs), a damaged one too (ModelFileError)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{folder / STATE_FILE}: not a readable checkpoint ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{folder / STATE_FILE}: not an entembed checkpoint (no format {FORMAT!r}).")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{folder / STATE_FILE}: format version {meta['format_version']} is newer than "
                             f"this entembed reads ({FORMAT_VERSION}); upgrade entembed.")
    differences = _differences(meta.get("identity") or {}, identity)
    if differences:
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise InputError(f"{folder}: a checkpoint of another run ({shown}); resume with the data file and "
                         "options of that run, or train into another folder (the checkpoint is kept).")
    try:
        return TrainState.from_json(meta["state"], load_file(str(folder / TENSORS_FILE)))
    except (SafetensorError, OSError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{folder}: damaged checkpoint ({exc!r}).") from None


def _differences(saved: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """'<what> <saved> in the checkpoint, <asked> now' for each setting the two runs disagree on."""
    asked = json.loads(json.dumps(asked))  # compared as saved: tuples as lists
    if saved.get("kind") != asked.get("kind"):
        return [f"a {saved.get('kind')} model in the checkpoint, a {asked.get('kind')} model now"]
    found = []
    was, now = saved.get("data") or {}, asked.get("data") or {}
    if was.get("sha256") != now.get("sha256"):
        found.append(f"data file {was.get('file')} ({was.get('bytes', 0):,} bytes, sha256 "
                     f"{str(was.get('sha256'))[:12]}) in the checkpoint, {now.get('file')} ({now.get('bytes', 0):,} "
                     f"bytes, sha256 {str(now.get('sha256'))[:12]}) now")
    for section in ("data", "model", "training"):
        was, now = saved.get(section) or {}, asked.get(section) or {}
        for key in sorted(set(was) | set(now)):
            if key not in (*_DATA_LABELS, "sha256") and was.get(key) != now.get(key):
                found.append(f"{key} {was.get(key)!r} in the checkpoint, {now.get(key)!r} now")
    return found
