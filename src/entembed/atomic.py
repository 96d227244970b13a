"""Write to a temporary path beside the target, then rename: an interrupted or failed write never leaves a
half-written file or folder under the target's name, and never loses what was there before."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["temporary_name", "atomic_file", "atomic_folder"]


def temporary_name(path: Path, suffix: str = ".partial") -> Path:
    """A hidden name beside ``path``, unique to this process, for a file renamed or removed when done."""
    return path.with_name(f".{path.name}.{os.getpid()}{suffix}")


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on a clean exit it replaces ``path``, on an error it is removed."""
    path = Path(path)
    temporary = temporary_name(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def atomic_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder to fill; on a clean exit it takes ``folder``'s place.

    An older folder is moved aside first and removed only once the new one is in place; if the second
    rename fails, the old folder is put back under its name before the error is raised.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(folder)
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        yield temporary
        if not folder.exists():
            temporary.rename(folder)
            return
        retired = temporary_name(folder, ".old")
        shutil.rmtree(retired, ignore_errors=True)
        folder.rename(retired)
        try:
            temporary.rename(folder)
        except BaseException:
            retired.rename(folder)
            raise
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
