"""The embedding projector's formats: TensorBoard's log folder and the standalone projector bundle.

TensorBoard: ``torch.utils.tensorboard.SummaryWriter.add_embedding`` writes ``projector_config.pbtxt`` and,
under ``00000/<table>/``, ``tensors.tsv`` and ``metadata.tsv`` (a header row when there are several columns);
``tensorboard --logdir PATH --host 127.0.0.1`` lists it in its projector. The standalone bundle
(projector.tensorflow.org, "Load"): ``vectors.tsv``, ``metadata.tsv`` and ``projector_config.json``.
Tabs and newlines inside metadata values are written as spaces, since they would break the TSV rows.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..embeddings import Embeddings
from ..errors import MissingExtraError

__all__ = ["write_tensorboard", "write_projector", "metadata_rows"]


def metadata_rows(keys: list[str], metadata: pd.DataFrame | None) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the metadata TSV: the key first, then the metadata columns (empty if missing)."""
    frame = pd.DataFrame({"key": keys})
    if metadata is not None:
        frame = pd.concat([frame, metadata.reset_index(drop=True)], axis=1)
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    text = text.apply(lambda column: column.str.replace(r"[\t\r\n]+", " ", regex=True))
    return [str(c) for c in frame.columns], text.to_numpy().tolist()


def _in_new_folder(path: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write`` into a temporary folder beside ``path`` and rename it into place when complete."""
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        write(temporary)
        if path.exists():
            path.rmdir()  # callers allow only an empty folder here
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return path


def write_tensorboard(embeddings: Embeddings, path: str | os.PathLike, metadata: pd.DataFrame | None = None,
                      *, tag: str = "embeddings") -> Path:
    """A TensorBoard log folder holding ``embeddings`` (with key + metadata columns) for its projector."""
    try:
        import torch
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MissingExtraError("the TensorBoard export", "viz", "tensorboard") from None
    header, rows = metadata_rows(embeddings.keys, metadata)

    def write(folder: Path) -> None:
        with SummaryWriter(log_dir=str(folder)) as writer:
            writer.add_embedding(torch.from_numpy(np.array(embeddings.vectors)), tag=tag,
                                 metadata=rows if len(header) > 1 else [r[0] for r in rows],
                                 metadata_header=header if len(header) > 1 else None)

    return _in_new_folder(Path(path), write)


def write_projector(embeddings: Embeddings, path: str | os.PathLike, metadata: pd.DataFrame | None = None,
                    *, tag: str = "embeddings") -> Path:
    """The standalone projector bundle: vectors.tsv, metadata.tsv, projector_config.json in folder ``path``."""
    header, rows = metadata_rows(embeddings.keys, metadata)

    def write(folder: Path) -> None:
        np.savetxt(folder / "vectors.tsv", embeddings.vectors, delimiter="\t", fmt="%.9g")
        lines = (["\t".join(header)] if len(header) > 1 else []) + ["\t".join(row) for row in rows]
        (folder / "metadata.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        config = {"embeddings": [{"tensorName": tag, "tensorShape": list(embeddings.vectors.shape),
                                  "tensorPath": "vectors.tsv", "metadataPath": "metadata.tsv"}]}
        (folder / "projector_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

    return _in_new_folder(Path(path), write)
