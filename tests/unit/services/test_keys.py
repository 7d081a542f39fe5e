"""Shard function and dedup kernels against plain Python / NumPy references."""

import numpy as np
import pytest

from services.keys import occurrence_counts, segment_sum, shard_of, shard_of_name, unique_ids

_M64 = (1 << 64) - 1


def _splitmix64_finalizer(x: int) -> int:
    x &= _M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def test_shard_of_matches_splitmix64_reference():
    ids = np.array([0, 1, 2, 42, 123456789, -1, -(1 << 63), (1 << 63) - 1], dtype=np.int64)
    for n in (1, 2, 3, 7, 64):
        expected = [_splitmix64_finalizer(int(i)) % n for i in ids]
        assert shard_of(ids, n).tolist() == expected


def test_shard_of_is_deterministic_and_in_range():
    ids = np.random.default_rng(0).integers(-(1 << 62), 1 << 62, size=10_000, dtype=np.int64)
    first = shard_of(ids, 5)
    assert first.dtype == np.int64 and first.shape == ids.shape
    assert first.min() >= 0 and first.max() < 5
    np.testing.assert_array_equal(first, shard_of(ids.copy(), 5))


def test_shard_of_balances_sequential_ids():
    counts = np.bincount(shard_of(np.arange(100_000, dtype=np.int64), 3), minlength=3)
    assert counts.sum() == 100_000
    assert np.all(np.abs(counts - 100_000 / 3) < 0.02 * 100_000 / 3)


def test_shard_of_empty_and_invalid():
    assert shard_of(np.empty(0, np.int64), 3).shape == (0,)
    with pytest.raises(ValueError, match="num_shards"):
        shard_of(np.arange(3), 0)


def test_shard_of_name_is_stable_and_in_range():
    assert shard_of_name("dense/w0", 4) == shard_of_name("dense/w0", 4)
    shards = {shard_of_name(f"layer{i}/kernel", 3) for i in range(50)}
    assert shards <= {0, 1, 2} and len(shards) == 3


@pytest.mark.parametrize("n", [0, 1, 17, 5000])
def test_unique_ids_matches_np_unique(n):
    ids = np.random.default_rng(n).integers(-50, 50, size=n, dtype=np.int64)
    uniq, inverse = unique_ids(ids)
    assert uniq.dtype == np.int64 and inverse.dtype == np.int64 and inverse.shape == (n,)
    np.testing.assert_array_equal(np.sort(uniq), np.unique(ids))
    np.testing.assert_array_equal(uniq[inverse], ids)
    if n:
        _, first = np.unique(ids, return_index=True)
        np.testing.assert_array_equal(uniq, ids[np.sort(first)])


def test_segment_sum_and_counts_match_np_add_at():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 40, size=1000, dtype=np.int64)
    values = rng.standard_normal((1000, 8)).astype(np.float32)
    uniq, inverse = unique_ids(ids)
    expected = np.zeros((uniq.shape[0], 8), np.float32)
    np.add.at(expected, inverse, values)
    np.testing.assert_allclose(segment_sum(values, inverse, uniq.shape[0]), expected, rtol=1e-5)
    ones = np.zeros(uniq.shape[0], np.int64)
    np.add.at(ones, inverse, 1)
    np.testing.assert_array_equal(occurrence_counts(inverse, uniq.shape[0]), ones)


def test_segment_sum_empty():
    out = segment_sum(np.empty((0, 4), np.float32), np.empty(0, np.int64), 0)
    assert out.shape == (0, 4) and out.dtype == np.float32
