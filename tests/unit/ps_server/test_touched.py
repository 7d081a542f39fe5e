import threading

import numpy as np
import pytest

from ps_server.touched import TouchedKeySet


def _ids(*values):
    return np.array(values, dtype=np.int64)


def test_fill_to_capacity_and_steal():
    s = TouchedKeySet(capacity=1000)
    assert s.nbytes == 0
    assert s.insert(np.arange(1000, dtype=np.int64)) == 0
    assert len(s) == 1000 and s.nbytes > 0
    stolen = s.steal()
    assert stolen.dtype == np.int64
    assert stolen.tolist() == list(range(1000))
    assert len(s) == 0 and s.steal().size == 0


def test_overflow_clears_everything():
    s = TouchedKeySet(capacity=1000)
    assert s.insert(np.arange(1005, dtype=np.int64)) == 1001
    assert s.steal().tolist() == [1001, 1002, 1003, 1004]


def test_overflow_across_inserts_counts_the_whole_set():
    s = TouchedKeySet(capacity=3)
    assert s.insert(_ids(1, 2, 3)) == 0
    assert s.insert(_ids(3, 2, 9)) == 4
    assert s.insert(_ids(-7)) == 0
    assert s.steal().tolist() == [-7]


def test_duplicates():
    s = TouchedKeySet(capacity=4)
    assert s.insert(_ids(5, 5, 5, -1, -1, 2**63 - 1, -2**63, 5)) == 0
    assert len(s) == 4
    assert s.insert(_ids(5, -1)) == 0
    assert sorted(s.steal().tolist()) == [-2**63, -1, 5, 2**63 - 1]
    assert s.insert(np.zeros(0, np.int64)) == 0


def test_growth_keeps_every_id():
    s = TouchedKeySet(capacity=100_000)
    ids = np.random.default_rng(0).permutation(50_000).astype(np.int64) * 7919
    for chunk in np.array_split(ids, 25):
        assert s.insert(chunk) == 0
    assert s.insert(ids[:1000]) == 0
    assert s.steal().tolist() == ids.tolist()


def test_concurrent_inserts():
    s = TouchedKeySet(capacity=1_000_000)
    parts = [np.arange(i, 200_000, 8, dtype=np.int64) for i in range(8)]

    def run(part):
        for chunk in np.array_split(part, 50):
            assert s.insert(chunk) == 0
            assert s.insert(chunk[:10]) == 0

    threads = [threading.Thread(target=run, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stolen = s.steal()
    assert stolen.size == 200_000
    assert np.array_equal(np.sort(stolen), np.arange(200_000))


def test_concurrent_overflow_count_is_exact():
    s = TouchedKeySet(capacity=1000)
    dropped = []

    def run(offset):
        total = 0
        for start in range(0, 10_000, 100):
            total += s.insert(np.arange(start, start + 100, dtype=np.int64) + offset)
        dropped.append(total)

    threads = [threading.Thread(target=run, args=(i * 10**6,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(dropped) + len(s) == 40_000


def test_rejects_bad_capacity():
    with pytest.raises(ValueError, match="capacity: got 0"):
        TouchedKeySet(capacity=0)
    with pytest.raises(ValueError, match="concurrency_level"):
        TouchedKeySet(capacity=1, concurrency_level=0)
