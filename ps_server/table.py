"""EmbeddingTable: a collisionless embedding table (one PS shard of it).

Memory is a hash index (``keys`` (C,) int64 + ``slot_rows`` (C,) int32, load
<= 0.75) beside dense row storage (``emb`` (R, dim) f32, ``slots`` (R, S) f32,
``last_update`` (R,) int64, touched epoch ``flags`` (R,) uint8) whose row
capacity grows by 1/8 at a time, so a table costs little more than its rows.
Kernels run with the GIL released; a readers-writer lock lets pulls share a
table while pushes, evictions and restores hold it alone.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ps_server import admission
from ps_server import table_kernels as tk
from ps_server.config import PullDType, TableConfig
from ps_server.initializers import initializer_args
from ps_server.optim import RowOptimizer
from ps_server.rows import RowStorage
from ps_server.rwlock import ReadersWriterLock
from services.errors import InvalidArgument
from services.keys import segment_sum, unique_ids

_MIN_ROW_GROWTH = 64
_EMPTY_IDS = np.zeros(0, dtype=np.int64)
_NO_SKETCH = np.zeros(1, dtype=np.uint16)


@dataclasses.dataclass(frozen=True)
class PushStats:
    """Outcome of one push, counted over distinct ids: applied = created + updated."""

    applied: int
    filtered: int
    created: int


@dataclasses.dataclass(frozen=True)
class RowsView:
    """Rows of requested ids: found (n,) bool, embeddings (n, dim) f32,
    slots (n, slot_width) f32, last_update_s (n,) int64; zeros where not found."""

    found: np.ndarray
    embeddings: np.ndarray
    slots: np.ndarray
    last_update_s: np.ndarray


@dataclasses.dataclass(frozen=True)
class TableRows:
    """Every live row of a table: ids (k,) int64, embeddings (k, dim) f32,
    slots (k, slot_width) f32, last_update_s (k,) int64."""

    ids: np.ndarray
    embeddings: np.ndarray
    slots: np.ndarray
    last_update_s: np.ndarray


class EmbeddingTable:
    """One shard of an embedding table: ids (int64) -> rows of ``dim`` float32."""

    def __init__(self, config: TableConfig, initial_capacity: int = 1024):
        self.config = config
        self.name = config.name
        self.dim = config.dim
        fp16 = config.pull_dtype is PullDType.FP16
        self.pull_dtype = np.dtype(np.float16 if fp16 else np.float32)
        self._optimizer = RowOptimizer(config.optimizer, config.dim)
        self.slot_layout = self._optimizer.slot_layout
        self.slot_width = self._optimizer.slot_width
        self._init_args = initializer_args(config.initializer)
        self._min_capacity = tk.capacity_for(0, initial_capacity)
        self._lock = ReadersWriterLock()
        self._keys, self._slot_rows = tk.empty_index(self._min_capacity)
        self._shift = tk.shift_for(self._min_capacity)
        self._size = 0
        self._rows = RowStorage(self.dim, self.slot_width)
        self._threshold = config.occurrence_threshold
        self._sketch = (
            np.zeros(config.filter_capacity, dtype=np.uint16) if self._threshold > 0 else _NO_SKETCH
        )
        self._sketch_shift = tk.shift_for(self._sketch.shape[0])
        self._epoch = 1
        self._touched_size = 0
        self._touched_dropped = 0
        self._touched_dropped_total = 0
        self._orphans = _EMPTY_IDS
        self._max_seen_s = 0
        self._pushes = 0

    # -- sizes -----------------------------------------------------------------

    @property
    def size(self) -> int:
        """Rows stored."""
        return self._size

    @property
    def capacity(self) -> int:
        """Slots of the hash index."""
        return self._keys.shape[0]

    @property
    def nbytes(self) -> int:
        """Bytes of every array the table holds."""
        total = self._keys.nbytes + self._slot_rows.nbytes + self._orphans.nbytes
        total += self._rows.nbytes
        return total + (self._sketch.nbytes if self._threshold > 0 else 0)

    @property
    def max_seen_s(self) -> int:
        """Largest update timestamp seen: the table's data time for expiry."""
        return self._max_seen_s

    @property
    def touched_dropped_total(self) -> int:
        """Touched ids dropped by set overflow since the table was created."""
        return self._touched_dropped_total

    # -- reads -------------------------------------------------------------------

    def _check_ids(self, ids, field: str = "ids") -> None:
        if not isinstance(ids, np.ndarray) or ids.dtype != np.int64 or ids.ndim != 1:
            got = f"{ids.dtype} {ids.shape}" if isinstance(ids, np.ndarray) else type(ids).__name__
            raise InvalidArgument(f"table {self.name!r}: {field}: expected 1-d int64, got {got}")

    def lookup(self, ids: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Rows of ids ((n,) int64) as (n, dim) of the pull dtype; zeros for ids without
        a row. Never inserts. ``out``, if given, is a writable (n, dim) array of the
        pull dtype (a view into a reply buffer is fine) and is returned filled."""
        self._check_ids(ids)
        n = ids.shape[0]
        if out is None:
            out = np.empty((n, self.dim), dtype=self.pull_dtype)
        elif out.dtype != self.pull_dtype or out.shape != (n, self.dim) or not out.flags.writeable:
            raise InvalidArgument(
                f"table {self.name!r}: out: expected writable {self.pull_dtype} ({n}, {self.dim}), "
                f"got {out.dtype} {out.shape}"
            )
        if n == 0:
            return out
        with self._lock.read():
            if self.pull_dtype == np.float32:
                tk.gather_f32(self._keys, self._slot_rows, self._shift, self._rows.emb, ids, out)
            else:
                tk.gather_f16(self._keys, self._slot_rows, self._shift,
                              self._rows.emb.view(np.uint32), ids, out.view(np.uint16))
        return out

    def inspect(self, ids: np.ndarray) -> RowsView:
        """Full rows of ids ((n,) int64), for tests and debugging tools."""
        self._check_ids(ids)
        n = ids.shape[0]
        rows = np.empty(n, dtype=np.int64)
        with self._lock.read():
            tk.find_rows(self._keys, self._slot_rows, self._shift, ids, rows)
            found = rows >= 0
            hit = rows[found]
            emb = np.zeros((n, self.dim), dtype=np.float32)
            slots = np.zeros((n, self.slot_width), dtype=np.float32)
            last_update = np.zeros(n, dtype=np.int64)
            emb[found] = self._rows.emb[hit]
            slots[found] = self._rows.slots[hit]
            last_update[found] = self._rows.last_update[hit]
        return RowsView(found, emb, slots, last_update)

    # -- pushes ------------------------------------------------------------------

    def validate_push(self, ids, grads, counts=None) -> None:
        """Raises InvalidArgument unless ids (n,) int64, grads (n, dim) finite float32 and
        counts None or (n,) int64 >= 0. Changes nothing."""
        self._check_ids(ids)
        n = ids.shape[0]
        where = f"table {self.name!r}"
        if not isinstance(grads, np.ndarray) or grads.dtype != np.float32 or grads.ndim != 2:
            got = f"{grads.dtype} {grads.shape}" if isinstance(grads, np.ndarray) else type(grads)
            raise InvalidArgument(
                f"{where}: gradients: expected float32 (n, {self.dim}), got {got}"
            )
        if grads.shape[1] != self.dim:
            raise InvalidArgument(
                f"{where}: gradients: dim {grads.shape[1]} does not match "
                f"the table's dim {self.dim}"
            )
        if grads.shape[0] != n:
            raise InvalidArgument(f"{where}: gradients: {grads.shape[0]} rows for {n} ids")
        if counts is not None:
            if not isinstance(counts, np.ndarray) or counts.dtype != np.int64 or counts.ndim != 1:
                got = f"{counts.dtype} {counts.shape}" if isinstance(counts, np.ndarray) else counts
                raise InvalidArgument(f"{where}: counts: expected 1-d int64, got {got}")
            if counts.shape[0] != n:
                raise InvalidArgument(f"{where}: counts: {counts.shape[0]} counts for {n} ids")
            if n and counts.min() < 0:
                raise InvalidArgument(f"{where}: counts: negative count {int(counts.min())}")
        if n and not tk.all_finite(grads):
            raise InvalidArgument(f"{where}: gradients: contain NaN or Inf")

    def apply_gradients(self, ids: np.ndarray, grads: np.ndarray, counts: np.ndarray | None = None,
                        timestamp_s: int | None = None, global_step: int = 0) -> PushStats:
        """Applies one push: ids (n,) int64, grads (n, dim) f32, counts (n,) int64 or None
        (one occurrence each). Duplicate ids are summed and applied once. Rows are
        created, filtered and stamped per the row life cycle; ``global_step`` > 0
        drives learning-rate warmup, else the table's count of applied pushes."""
        self.validate_push(ids, grads, counts)
        n = ids.shape[0]
        if n == 0:
            return PushStats(0, 0, 0)
        timestamp = int(time.time()) if timestamp_s is None else int(timestamp_s)
        uniq, inverse = unique_ids(ids)
        m = uniq.shape[0]
        if m == n:
            summed = np.ascontiguousarray(grads)
            if self._threshold > 0:
                counts = np.ones(n, dtype=np.int64) if counts is None else counts
        else:
            summed = segment_sum(grads, inverse, m)
            if self._threshold > 0:
                weights = None if counts is None else counts.astype(np.float64)
                counts = np.bincount(inverse, weights=weights, minlength=m).astype(np.int64)
        if self._threshold <= 0:
            counts = _EMPTY_IDS
        rows = np.empty(m, dtype=np.int64)
        with self._lock.write():
            created, filtered = self._admit(uniq, counts, timestamp, rows)
            applied = m - filtered
            if applied:
                self._pushes += 1
                self._max_seen_s = max(self._max_seen_s, timestamp)
                step = global_step if global_step > 0 else self._pushes
                self._optimizer.apply(self._rows.emb, self._rows.slots, rows, summed, step)
        return PushStats(applied, filtered, created)

    def _admit(self, uniq: np.ndarray, counts: np.ndarray, timestamp: int,
               rows: np.ndarray) -> tuple[int, int]:
        """Runs admission over distinct ids, growing the table whenever it runs out of
        room; fills rows ((m,) int64, -1 = filtered). Returns (created, filtered)."""
        created = filtered = done = 0
        while True:
            r = self._rows
            room = min(int(tk.MAX_LOAD * self.capacity), r.capacity)
            (self._size, c, f, self._touched_size, dropped, self._epoch,
             done) = admission.admit(
                self._keys, self._slot_rows, self._shift, self._size, room, uniq, done,
                counts, self._threshold, self._sketch, self._sketch_shift, *self._init_args,
                self._optimizer.slot_init, r.emb, r.slots, r.last_update, timestamp, r.flags,
                self._epoch, self._touched_size, self.config.touched_capacity, rows,
            )
            created += c
            filtered += f
            if dropped:
                self._orphans = _EMPTY_IDS
                self._touched_dropped += dropped
                self._touched_dropped_total += dropped
            if done == uniq.shape[0]:
                return created, filtered
            if self._size >= tk.MAX_LOAD * self.capacity:
                self._reserve(uniq[done:])
            else:
                self._rows.resize(max(r.capacity + r.capacity // 8, _MIN_ROW_GROWTH),
                                  self._size)

    def _reserve(self, ids: np.ndarray) -> None:
        """Makes room for every id of ``ids`` (distinct) that has no row yet: one lookup
        pass (none when the table is empty), then the index grows exactly for the missing ones."""
        missing = ids.shape[0] if self._size == 0 else tk.count_missing(
            self._keys, self._slot_rows, self._shift, ids)
        need = self._size + missing
        if need > tk.MAX_LOAD * self.capacity:
            self._rehash(tk.capacity_for(need, self.capacity))
        if need > self._rows.capacity:
            cap = self._rows.capacity
            self._rows.resize(max(need, cap + cap // 8, _MIN_ROW_GROWTH), self._size)

    def _rehash(self, capacity: int) -> None:
        keys, slot_rows = tk.empty_index(capacity)
        shift = tk.shift_for(capacity)
        tk.rehash(self._keys, self._slot_rows, keys, slot_rows, shift)
        self._keys, self._slot_rows, self._shift = keys, slot_rows, shift

    # -- maintenance ---------------------------------------------------------------

    def evict(self) -> int:
        """Drops rows with max_seen_s - last_update_s >= expire_after_s; returns how many."""
        expire = self.config.expire_after_s
        if expire <= 0:
            return 0
        with self._lock.write():
            old = self._size
            r = self._rows
            lu = r.last_update[:old]
            if old == 0 or int(lu.min()) > self._max_seen_s - expire:
                return 0
            keep = int(np.count_nonzero(self._max_seen_s - lu < expire))
            capacity = min(self.capacity, tk.capacity_for(keep, self._min_capacity))
            keys, slot_rows = tk.empty_index(capacity)
            shift = tk.shift_for(capacity)
            orphans = np.empty(old - keep, dtype=np.int64)
            size, n_orphans = tk.evict_expired(
                self._keys, self._slot_rows, old, r.last_update, self._max_seen_s, expire,
                r.emb, r.slots, r.flags, self._epoch, keys, slot_rows, shift, orphans,
            )
            self._keys, self._slot_rows, self._shift, self._size = keys, slot_rows, shift, size
            if n_orphans:
                self._orphans = np.concatenate([self._orphans, orphans[:n_orphans]])
            if size < r.capacity // 2:
                r.resize(max(size + size // 8, _MIN_ROW_GROWTH), size)
            return old - size

    def steal_touched(self) -> tuple[np.ndarray, int]:
        """Ids ((k,) int64) updated since the last steal, and how many were dropped
        by overflow meanwhile; the touched set is empty afterwards."""
        with self._lock.write():
            out = np.empty(self._size, dtype=np.int64)
            k = tk.touched_ids(self._keys, self._slot_rows, self._rows.flags, self._epoch, out)
            ids = out[:k]
            if self._orphans.shape[0]:
                ids, _ = unique_ids(np.concatenate([ids, self._orphans]))
            dropped = self._touched_dropped
            self._epoch += 1
            if self._epoch > admission.MAX_EPOCH:
                self._rows.flags[:] = 0
                self._epoch = 1
            self._touched_size = 0
            self._touched_dropped = 0
            self._orphans = _EMPTY_IDS
        return ids.copy(), dropped

    def export(self) -> TableRows:
        """Copies of every live (non-expired) row, in index order."""
        with self._lock.read():
            ids = np.empty(self._size, dtype=np.int64)
            rows = np.empty(self._size, dtype=np.int64)
            r = self._rows
            k = tk.live_rows(self._keys, self._slot_rows, r.last_update, self._max_seen_s,
                             self.config.expire_after_s, ids, rows)
            rows = rows[:k]
            return TableRows(ids[:k].copy(), r.emb[rows], r.slots[rows], r.last_update[rows])

    def load(self, ids: np.ndarray, embeddings: np.ndarray, slots: np.ndarray,
             last_update_s: np.ndarray, *, known_distinct: bool = False) -> None:
        """Inserts or overwrites rows (checkpoint restore). ids (n,) int64 distinct,
        embeddings (n, dim) f32, slots (n, slot_width) f32, last_update_s (n,) int64.
        ``known_distinct`` skips the duplicate check (ids of a checksummed shard file)."""
        self._check_ids(ids)
        n = ids.shape[0]
        expected = ((embeddings, np.float32, (n, self.dim), "embeddings"),
                    (slots, np.float32, (n, self.slot_width), "slots"),
                    (last_update_s, np.int64, (n,), "last_update_s"))
        for array, dtype, shape, field in expected:
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
                got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else array
                raise InvalidArgument(
                    f"table {self.name!r}: {field}: expected {np.dtype(dtype)} {shape}, got {got}"
                )
        if n == 0:
            return
        if not known_distinct:
            uniq, _ = unique_ids(ids)
            if uniq.shape[0] != n:
                raise InvalidArgument(f"table {self.name!r}: ids: {n - uniq.shape[0]} duplicates")
        with self._lock.write():
            self._reserve(ids)
            self._size = tk.load_rows(
                self._keys, self._slot_rows, self._shift, self._size, ids,
                np.ascontiguousarray(embeddings), np.ascontiguousarray(slots),
                np.ascontiguousarray(last_update_s), self._rows.emb, self._rows.slots,
                self._rows.last_update, self._rows.flags,
            )
            self._max_seen_s = max(self._max_seen_s, int(last_update_s.max()))
