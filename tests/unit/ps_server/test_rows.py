import numpy as np

from ps_server.rows import RowStorage


def test_growth_and_shrink_keep_rows_across_the_map_threshold():
    store = RowStorage(dim=16, slot_width=3)
    assert store.capacity == 0 and store.nbytes == 0
    rng = np.random.default_rng(0)
    size = 0
    ref_emb = np.zeros((0, 16), np.float32)
    for capacity in (10, 100, 20_000, 40_000, 45_000, 90_000):
        store.resize(capacity, size)
        new = rng.random((capacity - size, 16)).astype(np.float32)
        store.emb[size:capacity] = new
        store.slots[size:capacity] = 2.0
        store.last_update[size:capacity] = np.arange(size, capacity)
        store.flags[size:capacity] = 1
        ref_emb = np.concatenate([ref_emb, new])
        size = capacity
        np.testing.assert_array_equal(store.emb[:size], ref_emb)
        assert store.emb.shape == (capacity, 16) and store.slots.shape == (capacity, 3)
        assert store.emb.flags.writeable and store.emb.flags.c_contiguous
    assert store.nbytes >= 90_000 * (64 + 12 + 8 + 1)
    assert store.nbytes < 90_000 * (64 + 12 + 8 + 1) + 4 * 4096
    held = store.emb  # a view held elsewhere must not break growth
    store.resize(100_000, size)
    np.testing.assert_array_equal(store.emb[:size], ref_emb)
    np.testing.assert_array_equal(held[:size], ref_emb)
    store.resize(500, 500)
    np.testing.assert_array_equal(store.emb, ref_emb[:500])
    np.testing.assert_array_equal(store.last_update, np.arange(500))
    np.testing.assert_array_equal(store.slots, 2.0)
    assert store.nbytes == 500 * (64 + 12 + 8 + 1)


def test_zero_width_slots():
    store = RowStorage(dim=4, slot_width=0, capacity=8)
    store.resize(100_000, 8)
    assert store.slots.shape == (100_000, 0)
