"""Bags: variable-length lists of ids stored flat, the input format of ``torch.nn.EmbeddingBag``.

A bag is a tokenised sentence or the last N items a user touched. Bags are one int32 id array plus an
int64 offsets array (bag ``i`` is ``ids[offsets[i]:offsets[i + 1]]``), so no Python object exists per
token and a batch of bags is gathered with a few vectorised numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError

__all__ = ["Bags"]


@dataclass
class Bags:
    """``len(offsets) - 1`` bags of ids; bag ``i`` is ``ids[offsets[i]:offsets[i + 1]]``."""

    ids: np.ndarray       # (total,) int32
    offsets: np.ndarray   # (n + 1,) int64, starting at 0 and ending at total

    def __post_init__(self) -> None:
        self.ids = np.ascontiguousarray(self.ids, dtype=np.int32)
        self.offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) == 0 or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.ids) or (np.diff(self.offsets) < 0).any():
            raise InputError(f"offsets must rise from 0 to the number of ids ({len(self.ids)}).", param="offsets")

    @classmethod
    def from_lengths(cls, ids: np.ndarray, lengths: np.ndarray) -> "Bags":
        """Bags from the flat ids and each bag's length."""
        return cls(ids, np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))

    @classmethod
    def from_lists(cls, lists: list[list[int]]) -> "Bags":
        """Bags from a list of id lists (for small inputs and tests)."""
        lengths = np.array([len(b) for b in lists], dtype=np.int64)
        ids = np.concatenate([np.asarray(b, dtype=np.int32) for b in lists]) if lists else np.zeros(0, np.int32)
        return cls.from_lengths(ids, lengths)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __repr__(self) -> str:
        return f"Bags({len(self)} bags, {len(self.ids)} ids)"

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    def to_lists(self) -> list[list[int]]:
        return [self[i].tolist() for i in range(len(self))]

    def take(self, rows: np.ndarray) -> "Bags":
        """The bags at ``rows`` (in that order), gathered without a Python loop."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, lengths = self.offsets[rows], self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        # position j of the output comes from starts[bag] + (j - offsets[bag])
        positions = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Bags(self.ids[positions], offsets)

    def torch_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, starts) as int64 tensors, the ``input`` and ``offsets`` arguments of EmbeddingBag."""
        return torch.from_numpy(self.ids.astype(np.int64)), torch.from_numpy(self.offsets[:-1].copy())
