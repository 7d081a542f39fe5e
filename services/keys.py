"""Key routing and batch deduplication shared by client, server and restore.

``shard_of(ids, n) = mix64(id) % n`` is the one shard function of the system:
the client routes with it, a restore re-shards with it. ``unique_ids`` is the
one deduplication kernel (hash-based, first-occurrence order, O(n)).
"""

from __future__ import annotations

import numba
import numpy as np

_MIX_A = np.uint64(0xBF58476D1CE4E5B9)
_MIX_B = np.uint64(0x94D049BB133111EB)


@numba.njit(inline="always")
def mix64(x):
    """splitmix64's finalizer: a fixed bijective 64-bit mix of a uint64."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX_A
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX_B
    return x ^ (x >> np.uint64(31))


def mix64_array(x) -> np.ndarray:
    """``mix64`` over a whole uint64 array with NumPy (outside numba kernels)."""
    x = np.asarray(x, dtype=np.uint64)
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX_A
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX_B
    return x ^ (x >> np.uint64(31))


@numba.njit(nogil=True, cache=True)
def _shard_kernel(ids, num_shards, out):
    n = np.uint64(num_shards)
    for i in range(ids.shape[0]):
        out[i] = np.int64(mix64(np.uint64(ids[i])) % n)


def shard_of(ids: np.ndarray, num_shards: int) -> np.ndarray:
    """Shard index of each id. ids: (n,) int64 -> (n,) int64 in [0, num_shards)."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    out = np.empty(ids.shape[0], dtype=np.int64)
    _shard_kernel(ids, num_shards, out)
    return out


@numba.njit(nogil=True, cache=True)
def _unique_kernel(ids):
    n = ids.shape[0]
    cap = 16
    while cap < 2 * n:
        cap *= 2
    mask = np.uint64(cap - 1)
    slot_key = np.empty(cap, dtype=np.int64)
    slot_pos = np.full(cap, -1, dtype=np.int64)
    uniq = np.empty(n, dtype=np.int64)
    inverse = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        k = ids[i]
        h = mix64(np.uint64(k) ^ np.uint64(0x9E3779B97F4A7C15)) & mask
        while True:
            p = slot_pos[h]
            if p < 0:
                slot_key[h] = k
                slot_pos[h] = m
                uniq[m] = k
                inverse[i] = m
                m += 1
                break
            if slot_key[h] == k:
                inverse[i] = p
                break
            h = (h + np.uint64(1)) & mask
    return uniq[:m].copy(), inverse


def unique_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ids in first-occurrence order and each id's position among them.

    ids: (n,) int64 -> uniq (m,) int64, inverse (n,) int64 with uniq[inverse] == ids.
    """
    return _unique_kernel(np.ascontiguousarray(ids, dtype=np.int64))


@numba.njit(nogil=True, cache=True)
def _segment_sum_kernel(values, inverse, out):
    for i in range(inverse.shape[0]):
        r = inverse[i]
        for j in range(values.shape[1]):
            out[r, j] += values[i, j]


def segment_sum(values: np.ndarray, inverse: np.ndarray, num_segments: int) -> np.ndarray:
    """Sums rows that share a segment. values: (n, d) float32, inverse: (n,) -> (m, d)."""
    out = np.zeros((num_segments, values.shape[1]), dtype=values.dtype)
    _segment_sum_kernel(values, inverse, out)
    return out


def occurrence_counts(inverse: np.ndarray, num_segments: int) -> np.ndarray:
    """How often each distinct id occurred. inverse: (n,) -> (m,) int64."""
    return np.bincount(inverse, minlength=num_segments).astype(np.int64)


def shard_of_name(name: str, num_shards: int) -> int:
    """Shard of a dense variable: a stable hash of its name (same in every process)."""
    import hashlib

    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards
