"""The Zipf id stream: range, skew, distinct ids per request, determinism."""

import numpy as np
import pytest

from worker.benchmark.config import WorkloadConfig
from worker.benchmark.workload import build_pool, ids_of_ranks, unique_batch, zipf_ranks


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0, 1.05, 2.0])
def test_ranks_stay_in_the_vocabulary(s):
    ranks = zipf_ranks(np.random.default_rng(0), 100_000, 1000, s)
    assert ranks.dtype == np.int64 and ranks.min() >= 0 and ranks.max() <= 999


def test_zero_skew_is_uniform():
    ranks = zipf_ranks(np.random.default_rng(1), 200_000, 10, 0.0)
    freq = np.bincount(ranks, minlength=10) / ranks.size
    assert np.allclose(freq, 0.1, atol=0.01)


@pytest.mark.parametrize("s", [0.8, 1.0, 1.05, 1.5])
def test_frequencies_follow_the_power_law(s):
    vocab = 100_000
    ranks = zipf_ranks(np.random.default_rng(2), 2_000_000, vocab, s)
    freq = np.bincount(ranks, minlength=vocab).astype(np.float64)
    # rank r covers [r + 1, r + 2) of the continuous law, whose CDF goes as g below
    def g(x):
        return np.log(x) if s == 1 else x ** (1 - s)

    for r0, r1 in ((10, 100), (100, 1000)):
        expected = (g(r1 + 6.0) - g(r1 - 4.0)) / (g(r0 + 6.0) - g(r0 - 4.0))
        got = freq[r1 - 5:r1 + 5].sum() / freq[r0 - 5:r0 + 5].sum()
        assert got == pytest.approx(expected, rel=0.15)
    assert freq[0] > freq[1] > freq[10] > freq[1000]


def test_rank_to_id_is_injective():
    ranks = np.arange(1_000_000, dtype=np.int64)
    assert np.unique(ids_of_ranks(ranks)).size == ranks.size


def test_a_request_holds_batch_size_distinct_ids_hot_ones_first():
    ids = unique_batch(np.random.default_rng(3), 5000, 1 << 20, 1.05)
    assert ids.shape == (5000,) and ids.dtype == np.int64
    assert np.unique(ids).size == 5000
    hot = ids_of_ranks(np.arange(3, dtype=np.int64))
    assert np.isin(hot, ids).all()


def test_a_skew_too_strong_for_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match="lower --zipf or raise --vocab"):
        unique_batch(np.random.default_rng(4), 10_000, 20_000, 4.0)


def test_pools_are_deterministic_per_stream_and_differ_between_streams():
    w = WorkloadConfig(batch_size=1000, tables=2, vocab=1 << 20, seed=7)
    a, b, c = build_pool(w, (4, 8), 0), build_pool(w, (4, 8), 0), build_pool(w, (4, 8), 1)
    assert len(a) == 4 and [x.shape for x in a.grads] == [(1000, 4), (1000, 8)]
    assert all(x.dtype == np.float32 for x in a.grads)
    for k in range(len(a)):
        for t in range(2):
            assert np.array_equal(a.ids[k][t], b.ids[k][t])
    assert not np.array_equal(a.ids[0][0], c.ids[0][0])
    assert not np.array_equal(a.ids[0][0], a.ids[0][1])
    union = a.all_ids(0)
    assert np.unique(union).size == union.size >= 1000
