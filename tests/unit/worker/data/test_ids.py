"""Fid layout: slot in the high bits, 48-bit hash below."""

import numpy as np
import pytest

from worker.data import make_fids, slot_of
from worker.data.ids import HASH_MASK, MAX_SLOT, mix64

_M64 = (1 << 64) - 1


def _mix_reference(x: int) -> int:
    x &= _M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def test_mix64_matches_splitmix64_finalizer():
    xs = np.array([0, 1, 42, (1 << 63) + 5, _M64], dtype=np.uint64)
    assert mix64(xs).tolist() == [_mix_reference(int(x)) for x in xs]


def test_make_fids_layout():
    hashes = np.array([0, 1, HASH_MASK, _M64], dtype=np.uint64)
    fids = make_fids(7, hashes)
    assert fids.dtype == np.int64
    assert (fids >= 0).all()
    assert slot_of(fids).tolist() == [7] * 4
    assert (fids & HASH_MASK).tolist() == [0, 1, HASH_MASK, HASH_MASK]
    assert slot_of(make_fids(MAX_SLOT, hashes)).tolist() == [MAX_SLOT] * 4


def test_make_fids_rejects_out_of_range_slot():
    with pytest.raises(ValueError, match="slot must be in"):
        make_fids(MAX_SLOT + 1, np.zeros(1, np.uint64))
