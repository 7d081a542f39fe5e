"""TouchedKeySet: capacity-bounded set of ids updated since the last sync.

Semantics are Monolith's: ``insert`` adds ids one by one and, whenever the
set's size exceeds ``capacity``, clears the whole set and counts those ids as
dropped; ``steal`` returns every id and empties the set.

Storage is allocated on the first insert and grows with the set, up to an
index of ~1.25x capacity slots: ``slots`` (C,) int32 points into ``items``
(K,) int64 (ids in insertion order) and ``item_slot`` (K,) int64 remembers
each id's slot, so clearing costs O(size), not O(C).
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from ps_server.table_kernels import home_slot, shift_for

_LOAD = 0.8
_MIN_SLOTS = 1024


@numba.njit(nogil=True, cache=True)
def _insert(slots, shift, items, item_slot, size, ids, capacity):
    """Inserts ids ((n,) int64); returns (size, dropped). Needs room for
    min(size + n, capacity + 1) ids in items and in slots."""
    mask = slots.shape[0] - 1
    dropped = 0
    for i in range(ids.shape[0]):
        k = ids[i]
        h = home_slot(k, shift)
        while True:
            p = slots[h]
            if p < 0 or items[p] == k:
                break
            h = (h + 1) & mask
        if p >= 0:
            continue
        slots[h] = size
        items[size] = k
        item_slot[size] = h
        size += 1
        if size > capacity:
            dropped += size
            for j in range(size):
                slots[item_slot[j]] = -1
            size = 0
    return size, dropped


@numba.njit(nogil=True, cache=True)
def _reindex(slots, shift, items, item_slot, size):
    """Places items[:size] into an empty ``slots`` array."""
    mask = slots.shape[0] - 1
    for i in range(size):
        h = home_slot(items[i], shift)
        while slots[h] >= 0:
            h = (h + 1) & mask
        slots[h] = i
        item_slot[i] = h


@numba.njit(nogil=True, cache=True)
def _clear(slots, item_slot, size):
    for j in range(size):
        slots[item_slot[j]] = -1


def _slots_for(count: int, max_slots: int) -> int:
    n = _MIN_SLOTS
    while count > _LOAD * n and n < max_slots:
        n *= 2
    return n


class TouchedKeySet:
    """Thread-safe set of int64 ids with Monolith's overflow-clears-all rule.

    ``concurrency_level`` is accepted for parity with Monolith's sharded set;
    here one lock around a batch kernel serves every caller.
    """

    def __init__(self, capacity: int = 2_097_152, concurrency_level: int = 1024):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity: got {capacity!r}, must be an integer >= 1")
        if (isinstance(concurrency_level, bool) or not isinstance(concurrency_level, int)
                or concurrency_level < 1):
            raise ValueError(
                f"concurrency_level: got {concurrency_level!r}, must be an integer >= 1"
            )
        self.capacity = capacity
        self.concurrency_level = concurrency_level
        self._max_slots = _slots_for(capacity + 1, 1 << 62)
        self._lock = threading.Lock()
        self._slots: np.ndarray | None = None
        self._shift = np.uint64(0)
        self._items = np.zeros(0, dtype=np.int64)
        self._item_slot = np.zeros(0, dtype=np.int64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        slots = 0 if self._slots is None else self._slots.nbytes
        return slots + self._items.nbytes + self._item_slot.nbytes

    def _reserve(self, count: int) -> None:
        count = min(count, self.capacity + 1)
        if count > self._items.shape[0]:
            grown = min(max(count, 2 * self._items.shape[0], 1024), self.capacity + 1)
            for name in ("_items", "_item_slot"):
                old = getattr(self, name)
                new = np.empty(grown, dtype=np.int64)
                new[: self._size] = old[: self._size]
                setattr(self, name, new)
        want = _slots_for(count, self._max_slots)
        if self._slots is None or want > self._slots.shape[0]:
            self._slots = np.full(want, -1, dtype=np.int32)
            self._shift = shift_for(want)
            _reindex(self._slots, self._shift, self._items, self._item_slot, self._size)

    def insert(self, ids: np.ndarray) -> int:
        """Adds ids ((n,) int64); returns how many ids overflow dropped meanwhile."""
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if ids.shape[0] == 0:
            return 0
        with self._lock:
            self._reserve(self._size + ids.shape[0])
            self._size, dropped = _insert(self._slots, self._shift, self._items,
                                          self._item_slot, self._size, ids, self.capacity)
        return int(dropped)

    def steal(self) -> np.ndarray:
        """Every id in the set ((k,) int64, insertion order); the set is then empty."""
        with self._lock:
            out = self._items[: self._size].copy()
            if self._slots is not None:
                _clear(self._slots, self._item_slot, self._size)
            self._size = 0
        return out
