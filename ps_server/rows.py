"""Dense row storage of an embedding table that grows without copying its rows.

Large arrays live in private anonymous memory maps and grow with
``mmap.resize`` (``mremap`` on Linux: page tables move, bytes do not), so a
table can grow by small steps (1/8) and stay close to its live size without
paying a full copy per step. Small arrays, and platforms where resizing a map
fails, fall back to an ordinary NumPy copy.
"""

from __future__ import annotations

import mmap

import numpy as np

_MAP_MIN_BYTES = 1 << 20


class _Column:
    """One (capacity, *row_shape) array with a changeable capacity."""

    def __init__(self, row_shape: tuple[int, ...], dtype, capacity: int):
        self.row_shape = row_shape
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._map: mmap.mmap | None = None
        self.array = self._allocate(capacity)

    def _allocate(self, capacity: int) -> np.ndarray:
        nbytes = capacity * self.row_bytes
        if nbytes >= _MAP_MIN_BYTES and hasattr(mmap, "MAP_PRIVATE"):
            self._map = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            self._advise()
            return self._view(capacity)
        self._map = None
        return np.zeros((capacity,) + self.row_shape, dtype=self.dtype)

    def _advise(self) -> None:
        """Asks for transparent huge pages, as NumPy does for its large arrays: random
        row access then misses the TLB far less often."""
        if hasattr(mmap, "MADV_HUGEPAGE"):
            try:
                self._map.madvise(mmap.MADV_HUGEPAGE)
            except OSError:
                pass

    def _view(self, capacity: int) -> np.ndarray:
        count = capacity * self.row_bytes // self.dtype.itemsize
        flat = np.frombuffer(self._map, dtype=self.dtype, count=count)
        return flat.reshape((capacity,) + self.row_shape)

    @property
    def nbytes(self) -> int:
        return len(self._map) if self._map is not None else self.array.nbytes

    def resize(self, capacity: int, keep: int) -> None:
        """New capacity; rows [0, keep) are preserved, others are unspecified."""
        nbytes = capacity * self.row_bytes
        if self._map is not None and nbytes >= _MAP_MIN_BYTES:
            self.array = None
            try:
                self._map.resize(nbytes)
                self._advise()
                self.array = self._view(capacity)
                return
            except (BufferError, OSError, SystemError, ValueError, TypeError):
                self.array = self._view(len(self._map) // self.row_bytes)
        old = self.array
        self.array = self._allocate(capacity)
        keep = min(keep, capacity)
        self.array[:keep] = old[:keep]


class RowStorage:
    """Rows of a table: emb (R, dim) f32, slots (R, S) f32, last_update (R,) int64 and
    touched-epoch flags (R,) uint8, all of one capacity R."""

    def __init__(self, dim: int, slot_width: int, capacity: int = 0):
        self._columns = (
            _Column((dim,), np.float32, capacity),
            _Column((slot_width,), np.float32, capacity),
            _Column((), np.int64, capacity),
            _Column((), np.uint8, capacity),
        )
        self.capacity = capacity

    @property
    def emb(self) -> np.ndarray:
        return self._columns[0].array

    @property
    def slots(self) -> np.ndarray:
        return self._columns[1].array

    @property
    def last_update(self) -> np.ndarray:
        return self._columns[2].array

    @property
    def flags(self) -> np.ndarray:
        return self._columns[3].array

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self._columns)

    def resize(self, capacity: int, keep: int) -> None:
        """Changes the capacity to ``capacity`` rows, preserving rows [0, keep)."""
        for column in self._columns:
            column.resize(capacity, keep)
        self.capacity = capacity
