"""Ragged id lists: one flat ``values`` array cut into rows by ``row_splits``.

Row ``i`` is ``values[row_splits[i]:row_splits[i + 1]]``; ``row_splits`` starts at 0,
never decreases and ends at ``len(values)``. All operations are whole-array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def value_rowids(row_splits: np.ndarray) -> np.ndarray:
    """Row index of each value. row_splits: (b + 1,) int64 -> (nnz,) int64.

    ``[[], [1], [2, 3]]`` has row_splits ``[0, 0, 1, 3]`` and row ids ``[1, 2, 2]``.
    """
    row_splits = np.asarray(row_splits, dtype=np.int64)
    return np.repeat(np.arange(row_splits.shape[0] - 1, dtype=np.int64), np.diff(row_splits))


def row_splits_from_lengths(lengths: np.ndarray) -> np.ndarray:
    """(b,) row lengths -> (b + 1,) int64 row splits."""
    splits = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=splits[1:])
    return splits


def segment_mean(values: np.ndarray, row_splits: np.ndarray) -> np.ndarray:
    """Mean of each row's values, 0 for an empty row, in float64.

    values: (nnz,) or (nnz, k); row_splits: (b + 1,) -> (b,) or (b, k).
    """
    values = np.asarray(values, dtype=np.float64)
    cum = np.zeros((values.shape[0] + 1, *values.shape[1:]), dtype=np.float64)
    np.cumsum(values, axis=0, out=cum[1:])
    sums = cum[row_splits[1:]] - cum[row_splits[:-1]]
    lengths = np.maximum(np.diff(row_splits), 1).astype(np.float64)
    return sums / lengths.reshape(-1, *([1] * (values.ndim - 1)))


@dataclass(frozen=True, eq=False)
class Ragged:
    """A batch of variable-length int64 id lists.

    ``values``: (nnz,) int64. ``row_splits``: (b + 1,) int64.
    """

    values: np.ndarray
    row_splits: np.ndarray

    def __post_init__(self) -> None:
        splits = self.row_splits
        if splits.ndim != 1 or splits.shape[0] < 1:
            raise ValueError(f"row_splits must be 1-D with at least one entry, got shape "
                             f"{splits.shape}")
        if self.values.ndim != 1:
            raise ValueError(f"values must be 1-D, got shape {self.values.shape}")
        if splits[0] != 0 or splits[-1] != self.values.shape[0]:
            raise ValueError(f"row_splits must start at 0 and end at len(values)="
                             f"{self.values.shape[0]}, got {splits[0]}..{splits[-1]}")

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int]]) -> Ragged:
        """Small literal batches (tests, fixed tasks): ``[[1, 2], [], [3]]``."""
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        values = np.array([v for r in rows for v in r], dtype=np.int64)
        return cls(values, row_splits_from_lengths(lengths))

    @classmethod
    def from_lengths(cls, values: np.ndarray, lengths: np.ndarray) -> Ragged:
        return cls(np.asarray(values, dtype=np.int64), row_splits_from_lengths(lengths))

    @property
    def num_rows(self) -> int:
        return self.row_splits.shape[0] - 1

    def row_lengths(self) -> np.ndarray:
        """(b,) int64."""
        return np.diff(self.row_splits)

    def value_rowids(self) -> np.ndarray:
        """(nnz,) int64 row of each value."""
        return value_rowids(self.row_splits)

    def to_list(self) -> list[list[int]]:
        s = self.row_splits
        return [self.values[s[i]:s[i + 1]].tolist() for i in range(self.num_rows)]

    def slice_rows(self, start: int, stop: int) -> Ragged:
        """Rows ``[start, stop)``; values are a view, splits are rebased to 0."""
        splits = self.row_splits[start:stop + 1]
        return Ragged(self.values[splits[0]:splits[-1]], splits - splits[0])

    def take_rows(self, rows: np.ndarray) -> Ragged:
        """Rows in the given order. rows: (k,) int64 row indices."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.row_splits[rows]
        lengths = self.row_splits[rows + 1] - starts
        splits = row_splits_from_lengths(lengths)
        offsets = np.repeat(starts - splits[:-1], lengths)
        return Ragged(self.values[np.arange(splits[-1], dtype=np.int64) + offsets], splits)

    @staticmethod
    def concat(parts: Sequence[Ragged]) -> Ragged:
        """Rows of all parts, in order."""
        if not parts:
            return Ragged(np.zeros(0, np.int64), np.zeros(1, np.int64))
        values = np.concatenate([p.values for p in parts])
        lengths = np.concatenate([p.row_lengths() for p in parts])
        return Ragged(values, row_splits_from_lengths(lengths))
