"""Hash-index kernels of an embedding table: probe, gather, rehash, compaction.

The index is open addressing with linear probing over two arrays of one
power-of-two capacity C: ``keys`` (C,) int64 and ``slot_rows`` (C,) int32, the
row of that key in the table's dense row storage or -1 for an empty slot
(every int64 is a valid key, so emptiness never lives in ``keys``).

The home slot is the HIGH bits of ``mix64(key ^ salt)``. The shard function is
``mix64(key) % N``, so all keys of one shard share low-order structure; the
salt and the high bits keep them from clustering here.
"""

from __future__ import annotations

import numba
import numpy as np

from ps_server.prefetch import DISTANCE, prefetch_read
from services.keys import mix64

MAX_LOAD = 0.75
MIN_CAPACITY = 16
_PROBE_SALT = np.uint64(0xC2B2AE3D27D4EB4F)


def capacity_for(n: int, minimum: int = MIN_CAPACITY) -> int:
    """Smallest power-of-two capacity >= minimum holding n keys at load <= MAX_LOAD."""
    cap = max(MIN_CAPACITY, 1 << max(0, int(minimum) - 1).bit_length())
    while n > MAX_LOAD * cap:
        cap *= 2
    return cap


def shift_for(capacity: int) -> np.uint64:
    """Right shift that maps a 64-bit hash to a slot of a power-of-two capacity."""
    return np.uint64(64 - (capacity.bit_length() - 1))


def empty_index(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys (C,) int64, slot_rows (C,) int32 all -1) for a power-of-two C."""
    return np.zeros(capacity, dtype=np.int64), np.full(capacity, -1, dtype=np.int32)


@numba.njit(inline="always")
def home_slot(key, shift):
    return np.int64(mix64(np.uint64(key) ^ _PROBE_SALT) >> shift)


@numba.njit(inline="always")
def find_row(keys, slot_rows, shift, key):
    """Row of ``key`` or -1."""
    mask = keys.shape[0] - 1
    h = home_slot(key, shift)
    while True:
        r = slot_rows[h]
        if r < 0:
            return -1
        if keys[h] == key:
            return np.int64(r)
        h = (h + 1) & mask


@numba.njit(inline="always")
def find_slot(keys, slot_rows, shift, key):
    """Slot holding ``key``, or the empty slot where it would go."""
    mask = keys.shape[0] - 1
    h = home_slot(key, shift)
    while slot_rows[h] >= 0 and keys[h] != key:
        h = (h + 1) & mask
    return h


@numba.njit(inline="always")
def prefetch_slot(keys, slot_rows, shift, key):
    h = home_slot(key, shift)
    prefetch_read(keys, h)
    prefetch_read(slot_rows, h)


@numba.njit(nogil=True, cache=True)
def find_rows(keys, slot_rows, shift, ids, out_rows):
    """Row of each id ((n,) int64 -> out_rows (n,) int64, -1 if absent); returns #absent."""
    missing = 0
    n = ids.shape[0]
    for i in range(n):
        if i + DISTANCE < n:
            prefetch_slot(keys, slot_rows, shift, ids[i + DISTANCE])
        r = find_row(keys, slot_rows, shift, ids[i])
        out_rows[i] = r
        if r < 0:
            missing += 1
    return missing


@numba.njit(nogil=True, cache=True)
def count_missing(keys, slot_rows, shift, ids):
    """How many of the distinct ids ((n,) int64) have no row."""
    missing = 0
    n = ids.shape[0]
    for i in range(n):
        if i + DISTANCE < n:
            prefetch_slot(keys, slot_rows, shift, ids[i + DISTANCE])
        if find_row(keys, slot_rows, shift, ids[i]) < 0:
            missing += 1
    return missing


@numba.njit(nogil=True, cache=True)
def gather_f32(keys, slot_rows, shift, emb, ids, out):
    """out[i] = emb[row of ids[i]] or zeros. emb (R, d) f32, ids (n,) int64, out (n, d) f32."""
    n = ids.shape[0]
    d = emb.shape[1]
    zero = np.float32(0.0)
    for i in range(n):
        if i + DISTANCE < n:
            prefetch_slot(keys, slot_rows, shift, ids[i + DISTANCE])
        r = find_row(keys, slot_rows, shift, ids[i])
        if r >= 0:
            for j in range(d):
                out[i, j] = emb[r, j]
        else:
            for j in range(d):
                out[i, j] = zero


@numba.njit(inline="always")
def half_bits(b):
    """IEEE binary16 bits of a float32 given by its bits (int64), round to nearest even."""
    sign = (b >> 16) & 0x8000
    a = b & 0x7FFFFFFF
    if a >= 0x47800000:
        if a > 0x7F800000:
            return sign | 0x7E00
        return sign | 0x7C00
    if a < 0x38800000:
        e = a >> 23
        if e < 102:
            return sign
        mant = (a & 0x7FFFFF) | 0x800000
        s = 126 - e
        q = mant >> s
        rem = mant & ((1 << s) - 1)
        half = 1 << (s - 1)
        if rem > half or (rem == half and (q & 1) == 1):
            q += 1
        return sign | q
    a = a + ((15 - 127) << 23) + 0xFFF + ((a >> 13) & 1)
    return sign | (a >> 13)


@numba.njit(nogil=True, cache=True)
def gather_f16(keys, slot_rows, shift, emb_bits, ids, out_bits):
    """As gather_f32, rounding to float16. emb_bits (R, d) uint32, out_bits (n, d) uint16."""
    n = ids.shape[0]
    d = emb_bits.shape[1]
    for i in range(n):
        if i + DISTANCE < n:
            prefetch_slot(keys, slot_rows, shift, ids[i + DISTANCE])
        r = find_row(keys, slot_rows, shift, ids[i])
        if r >= 0:
            for j in range(d):
                out_bits[i, j] = np.uint16(half_bits(np.int64(emb_bits[r, j])))
        else:
            for j in range(d):
                out_bits[i, j] = np.uint16(0)


@numba.njit(nogil=True, cache=True)
def f32_to_f16_bits(src_bits, out_bits):
    """Elementwise float32 bits (n,) uint32 -> float16 bits (n,) uint16."""
    for i in range(src_bits.shape[0]):
        out_bits[i] = np.uint16(half_bits(np.int64(src_bits[i])))


@numba.njit(nogil=True, cache=True)
def rehash(keys, slot_rows, new_keys, new_slot_rows, new_shift):
    """Moves every occupied slot of the old index into an empty new one."""
    for h in range(keys.shape[0]):
        r = slot_rows[h]
        if r >= 0:
            k = keys[h]
            s = find_slot(new_keys, new_slot_rows, new_shift, k)
            new_keys[s] = k
            new_slot_rows[s] = r


@numba.njit(nogil=True, cache=True)
def _all_finite_bits(bits):
    exp = np.uint32(0x7F800000)
    worst = np.uint32(0)
    for i in range(bits.shape[0]):
        worst = max(worst, bits[i] & exp)
    return worst != exp


def all_finite(values: np.ndarray) -> bool:
    """True when a float32 array holds no NaN or Inf (a branch-free, vectorized scan)."""
    flat = np.ascontiguousarray(values).reshape(-1)
    return flat.shape[0] == 0 or bool(_all_finite_bits(flat.view(np.uint32)))


@numba.njit(nogil=True, cache=True)
def load_rows(keys, slot_rows, shift, size, ids, emb_src, slots_src, lu_src,
              emb, slots, last_update, flags):
    """Inserts or overwrites rows (restore). Capacity for every new id must exist.

    ids (n,) int64, emb_src (n, d) f32, slots_src (n, S) f32, lu_src (n,) int64.
    New rows are not touched (flag 0). Returns the new row count.
    """
    n = ids.shape[0]
    for i in range(n):
        if i + DISTANCE < n:
            prefetch_slot(keys, slot_rows, shift, ids[i + DISTANCE])
        k = ids[i]
        h = find_slot(keys, slot_rows, shift, k)
        r = np.int64(slot_rows[h])
        if r < 0:
            r = size
            size += 1
            keys[h] = k
            slot_rows[h] = r
            flags[r] = 0
        for j in range(emb.shape[1]):
            emb[r, j] = emb_src[i, j]
        for j in range(slots.shape[1]):
            slots[r, j] = slots_src[i, j]
        last_update[r] = lu_src[i]
    return size


@numba.njit(nogil=True, cache=True)
def live_rows(keys, slot_rows, last_update, max_seen, expire_after, out_ids, out_rows):
    """(id, row) of every non-expired row, in index order; returns how many."""
    k = 0
    for h in range(keys.shape[0]):
        r = slot_rows[h]
        if r >= 0 and (expire_after <= 0 or max_seen - last_update[r] < expire_after):
            out_ids[k] = keys[h]
            out_rows[k] = r
            k += 1
    return k


@numba.njit(nogil=True, cache=True)
def touched_ids(keys, slot_rows, flags, epoch, out_ids):
    """Ids whose row carries the current touched epoch; returns how many."""
    k = 0
    for h in range(keys.shape[0]):
        r = slot_rows[h]
        if r >= 0 and flags[r] == epoch:
            out_ids[k] = keys[h]
            k += 1
    return k


@numba.njit(nogil=True, cache=True)
def evict_expired(keys, slot_rows, size, last_update, max_seen, expire_after,
                  emb, slots, flags, epoch, new_keys, new_slot_rows, new_shift, orphans):
    """Drops rows with max_seen - last_update >= expire_after, compacting rows in place.

    Rebuilds the index into ``new_keys``/``new_slot_rows`` (empty, any power-of-two
    capacity that fits). Ids of evicted rows that were touched go to ``orphans``
    ((size,) int64) so the touched set still reports them. Returns (new size, #orphans).
    """
    remap = np.empty(size, dtype=np.int64)
    p = 0
    for r in range(size):
        if max_seen - last_update[r] >= expire_after:
            remap[r] = -2 if flags[r] == epoch else -1
        else:
            remap[r] = p
            if p != r:
                for j in range(emb.shape[1]):
                    emb[p, j] = emb[r, j]
                for j in range(slots.shape[1]):
                    slots[p, j] = slots[r, j]
                last_update[p] = last_update[r]
                flags[p] = flags[r]
            p += 1
    n_orphans = 0
    for h in range(keys.shape[0]):
        r = slot_rows[h]
        if r < 0:
            continue
        k = keys[h]
        nr = remap[r]
        if nr < 0:
            if nr == -2:
                orphans[n_orphans] = k
                n_orphans += 1
            continue
        s = find_slot(new_keys, new_slot_rows, new_shift, k)
        new_keys[s] = k
        new_slot_rows[s] = nr
    return p, n_orphans
