"""Feature ids (fids): Monolith's v2 layout, slot in the high bits, a 48-bit hash below.

A fid is an int64 ``slot << 48 | (hash & (2**48 - 1))`` with ``0 <= slot < 2**15``,
so ids of different slots never collide and the sign bit stays clear. Every
source (synthetic stream, Criteo reader) builds its ids here.
"""

from __future__ import annotations

import numpy as np

from services.keys import mix64_array as mix64

HASH_BITS = 48
SLOT_BITS = 15
MAX_SLOT = (1 << SLOT_BITS) - 1
HASH_MASK = (1 << HASH_BITS) - 1
_U64 = (1 << 64) - 1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _check_slot(slot: int) -> None:
    if not 0 <= slot <= MAX_SLOT:
        raise ValueError(f"slot must be in [0, {MAX_SLOT}], got {slot}")


def salt(*parts: int) -> np.uint64:
    """A uint64 derived from small integers (seed, slot, purpose), for keyed hashing."""
    h = np.zeros(1, dtype=np.uint64)
    for p in parts:
        h = mix64(h ^ (np.array([p & _U64], dtype=np.uint64) * _GOLDEN))
    return h[0]


def make_fids(slot: int, hashes: np.ndarray) -> np.ndarray:
    """Fids of one slot. hashes: (n,) any 64-bit integer dtype -> (n,) int64."""
    _check_slot(slot)
    low = np.asarray(hashes).astype(np.uint64, copy=False) & np.uint64(HASH_MASK)
    return (low | np.uint64(slot << HASH_BITS)).view(np.int64)


def slot_of(fids: np.ndarray) -> np.ndarray:
    """Slot of each fid. fids: (n,) int64 -> (n,) int64."""
    return np.asarray(fids, dtype=np.int64) >> HASH_BITS
