"""EmbeddingTable against a dict/NumPy reference."""

import threading

import numpy as np
import pytest

from ps_server import table_kernels as tk
from ps_server.config import (
    InitializerConfig,
    InitializerKind,
    OptimizerConfig,
    OptimizerKind,
    PullDType,
    TableConfig,
)
from ps_server.table import EmbeddingTable, PushStats
from services.errors import InvalidArgument

F = np.float32
ZEROS = InitializerConfig(InitializerKind.ZEROS)


def _table(dim=4, kind=OptimizerKind.SGD, hp=(("learning_rate", 1.0),), init=ZEROS,
           initial_capacity=1024, **kw):
    cfg = TableConfig("emb", dim, OptimizerConfig(kind, hp), init, **kw)
    return EmbeddingTable(cfg, initial_capacity=initial_capacity)


def _ids(*values):
    return np.array(values, dtype=np.int64)


def _grads(n, dim=4, value=1.0):
    return np.full((n, dim), value, dtype=F)


def test_random_batches_match_dict_reference():
    rng = np.random.default_rng(0)
    table = _table(dim=3, initial_capacity=16)
    ref: dict[int, np.ndarray] = {}
    universe = np.concatenate([rng.integers(-2**63, 2**63 - 1, 3000, dtype=np.int64),
                               _ids(0, -1, 2**63 - 1, -2**63)])
    for step in range(40):
        n = int(rng.integers(0, 400))
        ids = rng.choice(universe, size=n)
        grads = rng.normal(size=(n, 3)).astype(F)
        stats = table.apply_gradients(ids, grads, timestamp_s=step)
        distinct = np.unique(ids)
        new = sum(1 for k in distinct if int(k) not in ref)
        assert stats == PushStats(applied=len(distinct), filtered=0, created=new)
        for k in distinct:
            g = grads[ids == k].sum(axis=0, dtype=F)
            ref[int(k)] = ref.get(int(k), np.zeros(3, F)) - g
    assert table.size == len(ref)
    assert table.size <= tk.MAX_LOAD * table.capacity
    keys = np.array(list(ref), dtype=np.int64)
    np.testing.assert_allclose(table.lookup(keys), np.stack(list(ref.values())), rtol=1e-5,
                               atol=1e-6)
    exported = table.export()
    assert sorted(exported.ids.tolist()) == sorted(ref)
    order = {int(k): i for i, k in enumerate(exported.ids)}
    np.testing.assert_array_equal(exported.embeddings[[order[int(k)] for k in keys]],
                                  table.lookup(keys))


def test_duplicate_ids_are_summed_and_applied_once():
    table = _table(kind=OptimizerKind.ADAGRAD,
                   hp=(("learning_rate", 0.1), ("initial_accumulator", 0.1)))
    ids = _ids(5, 7, 5, 5)
    grads = np.array([[1], [2], [3], [4]], dtype=F).repeat(4, axis=1)
    stats = table.apply_gradients(ids, grads, timestamp_s=1)
    assert stats == PushStats(applied=2, filtered=0, created=2)
    g = F(8.0)
    want = -F(0.1) * g / np.sqrt(F(0.1) + g * g)
    np.testing.assert_allclose(table.lookup(_ids(5))[0], want, rtol=1e-6)
    np.testing.assert_allclose(table.inspect(_ids(5)).slots[0], F(0.1) + g * g, rtol=1e-6)


def test_empty_batch():
    table = _table()
    empty = np.zeros(0, dtype=np.int64)
    assert table.apply_gradients(empty, np.zeros((0, 4), F)) == PushStats(0, 0, 0)
    assert table.lookup(empty).shape == (0, 4)
    assert table.inspect(empty).embeddings.shape == (0, 4)
    assert table.size == 0 and table.steal_touched()[0].shape == (0,)


def test_growth_at_the_load_factor_edge():
    table = _table(initial_capacity=16)
    assert table.capacity == 16
    edge = int(tk.MAX_LOAD * 16)
    table.apply_gradients(np.arange(edge, dtype=np.int64), _grads(edge), timestamp_s=1)
    assert (table.size, table.capacity) == (edge, 16)
    # a batch of ids that all exist needs no room, however large it is
    table.apply_gradients(np.arange(edge, dtype=np.int64), _grads(edge), timestamp_s=1)
    assert table.capacity == 16
    table.apply_gradients(np.arange(edge + 1, dtype=np.int64), _grads(edge + 1), timestamp_s=1)
    assert (table.size, table.capacity) == (edge + 1, 32)
    lookup = table.lookup(np.arange(edge + 2, dtype=np.int64))
    np.testing.assert_array_equal(lookup[:edge, 0], -3.0)
    np.testing.assert_array_equal(lookup[edge:, 0], [-1.0, 0.0])
    # growth for many new ids jumps straight to the capacity that fits them
    table.apply_gradients(np.arange(1000, 1100, dtype=np.int64), _grads(100), timestamp_s=1)
    assert table.capacity == tk.capacity_for(table.size) == 256


def test_pull_is_read_only():
    table = _table()
    table.apply_gradients(_ids(1), _grads(1), timestamp_s=1)
    out = table.lookup(_ids(1, 2, 3))
    np.testing.assert_array_equal(out, [[-1] * 4, [0] * 4, [0] * 4])
    assert table.size == 1
    assert table.inspect(_ids(2, 1)).found.tolist() == [False, True]
    assert table.steal_touched()[0].tolist() == [1]


def test_lookup_into_unaligned_reply_buffer():
    for dtype in (PullDType.FP32, PullDType.FP16):
        table = _table(pull_dtype=dtype)
        table.apply_gradients(_ids(4, 9), np.array([[1, 2, 3, 4], [5, 6, 7, 8]], F),
                              timestamp_s=1)
        buf = bytearray(3 + 3 * 4 * table.pull_dtype.itemsize)
        out = np.frombuffer(buf, dtype=table.pull_dtype, count=12, offset=3).reshape(3, 4)
        assert table.lookup(_ids(9, 0, 4), out=out) is out
        np.testing.assert_array_equal(out, [[-5, -6, -7, -8], [0] * 4, [-1, -2, -3, -4]])
        with pytest.raises(InvalidArgument, match="table 'emb': out"):
            table.lookup(_ids(9), out=np.zeros((1, 3), table.pull_dtype))


def test_fp16_pull_rounds_like_numpy():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2**32, 2_000_000, dtype=np.uint64).astype(np.uint32)
    edges = np.array([65504, 65519.996, 65520, 65536, 1e9, 2**-24, 2**-25, 2**-25 * 1.0001,
                      3 * 2**-26, 2**-14, 2**-14 * 0.99951171875, 1e-30, 0.0, -0.0, np.inf,
                      -np.inf, 1.0 + 2**-11, 1.0 + 3 * 2**-11], dtype=F)
    values = np.concatenate([bits.view(F), edges, -edges])
    values = values[~np.isnan(values)]
    out = np.empty(values.shape[0], dtype=np.uint16)
    tk.f32_to_f16_bits(values.view(np.uint32), out)
    with np.errstate(over="ignore"):
        want = values.astype(np.float16)
    np.testing.assert_array_equal(out, want.view(np.uint16))

    table = _table(dim=8, pull_dtype=PullDType.FP16,
                   init=InitializerConfig(InitializerKind.RANDOM_UNIFORM, minval=-3, maxval=3))
    ids = np.arange(50, dtype=np.int64)
    table.apply_gradients(ids, np.zeros((50, 8), F), timestamp_s=1)
    got = table.lookup(ids)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, table.inspect(ids).embeddings.astype(np.float16))


def test_occurrence_filter_exact_semantics():
    table = _table(occurrence_threshold=2, filter_capacity=1024)
    assert table.apply_gradients(_ids(1), _grads(1)) == PushStats(0, 1, 0)
    assert table.apply_gradients(_ids(1), _grads(1)) == PushStats(0, 1, 0)
    assert table.size == 0 and table.steal_touched()[0].size == 0
    # the (T+1)-th occurrence creates the row and applies its gradient
    assert table.apply_gradients(_ids(1), _grads(1)) == PushStats(1, 0, 1)
    np.testing.assert_array_equal(table.lookup(_ids(1)), [[-1] * 4])
    # a row bypasses the filter from then on
    assert table.apply_gradients(_ids(1), _grads(1)) == PushStats(1, 0, 0)

    # counts: one push carrying 5 occurrences is still dropped (count before it was 0)
    assert table.apply_gradients(_ids(2), _grads(1), counts=_ids(5)) == PushStats(0, 1, 0)
    assert table.apply_gradients(_ids(2), _grads(1), counts=_ids(1)) == PushStats(1, 0, 1)
    # huge counts saturate the sketch instead of wrapping
    assert table.apply_gradients(_ids(9), _grads(1), counts=_ids(2**62)).filtered == 1
    assert table.apply_gradients(_ids(9), _grads(1), counts=_ids(2**62)).created == 1
    # duplicates in one push add their counts: 1 + 0 -> still below 2, then 1 + 1 + 1
    assert table.apply_gradients(_ids(3, 3), _grads(2), counts=_ids(1, 0)).filtered == 1
    assert table.apply_gradients(_ids(3, 3, 4), _grads(3)) == PushStats(0, 2, 0)
    assert table.apply_gradients(_ids(3, 4), _grads(2)) == PushStats(1, 1, 1)
    np.testing.assert_array_equal(table.lookup(_ids(3, 4))[:, 0], [-1, 0])
    assert sorted(table.steal_touched()[0].tolist()) == [1, 2, 3, 9]
    assert table.nbytes >= 1024 * 2


def test_no_sketch_without_threshold():
    assert _table().nbytes < _table(occurrence_threshold=1).nbytes - (1 << 22)


def test_expiry_by_data_time_and_evict():
    table = _table(expire_after_s=100, initial_capacity=16)
    table.apply_gradients(_ids(1, 2), _grads(2), timestamp_s=1000)
    table.apply_gradients(_ids(3), _grads(1), timestamp_s=1050)
    keep = np.arange(100, 130, dtype=np.int64)
    table.apply_gradients(keep, _grads(30, value=2.0), timestamp_s=1099)
    assert table.evict() == 0
    table.apply_gradients(_ids(2), _grads(1), timestamp_s=1100)
    assert table.max_seen_s == 1100
    # id 1 is now 100 s behind data time; wall-clock time plays no part
    assert sorted(table.export().ids.tolist()) == sorted([2, 3, *keep.tolist()])
    before = table.inspect(keep)
    assert table.evict() == 1
    assert table.size == 32
    assert table.lookup(_ids(1)).tolist() == [[0.0] * 4]
    np.testing.assert_array_equal(table.lookup(_ids(2, 3))[:, 0], [-2, -1])
    after = table.inspect(keep)
    np.testing.assert_array_equal(after.embeddings, before.embeddings)
    np.testing.assert_array_equal(after.last_update_s, before.last_update_s)
    assert table.evict() == 0
    # touched ids of evicted rows are still reported once
    assert sorted(table.steal_touched()[0].tolist()) == sorted([1, 2, 3, *keep.tolist()])
    # eviction of most rows shrinks the index
    table.apply_gradients(_ids(7), _grads(1), timestamp_s=5000)
    assert table.evict() == 32
    assert table.size == 1 and table.capacity == 16


def test_random_uniform_init_is_pure_function_of_seed_and_id():
    init = InitializerConfig(InitializerKind.RANDOM_UNIFORM, minval=-0.5, maxval=0.25, seed=9)
    a, b = _table(dim=8, init=init), _table(dim=8, init=init)
    other = _table(dim=8, init=InitializerConfig(InitializerKind.RANDOM_UNIFORM, seed=10))
    ids = np.random.default_rng(3).integers(-2**62, 2**62, 500, dtype=np.int64)
    zeros = np.zeros((500, 8), F)
    a.apply_gradients(ids, zeros, timestamp_s=1)
    b.apply_gradients(ids[::-1].copy(), zeros, timestamp_s=1)
    b.apply_gradients(np.arange(1000, dtype=np.int64), np.zeros((1000, 8), F), timestamp_s=1)
    other.apply_gradients(ids, zeros, timestamp_s=1)
    rows = a.lookup(ids)
    np.testing.assert_array_equal(rows, b.lookup(ids))
    assert not np.any(rows == other.lookup(ids))
    assert rows.min() >= -0.5 and rows.max() <= 0.25
    assert abs(float(rows.mean()) - (-0.125)) < 0.02
    assert len(np.unique(rows)) > 0.99 * rows.size


@pytest.mark.parametrize("init, value", [(InitializerKind.ONES, 1.0),
                                         (InitializerKind.CONSTANT, 0.3)])
def test_constant_initializers(init, value):
    table = _table(init=InitializerConfig(init, value=0.3))
    table.apply_gradients(_ids(8), np.zeros((1, 4), F), timestamp_s=1)
    np.testing.assert_array_equal(table.lookup(_ids(8)), np.full((1, 4), value, F))


def test_memory_accounting_dim16_adagrad():
    table = _table(dim=16, kind=OptimizerKind.ADAGRAD, hp=())
    rng = np.random.default_rng(5)
    checked = 0
    while table.capacity < 1 << 17:
        ids = rng.integers(-2**63, 2**63 - 1, 4096, dtype=np.int64)
        table.apply_gradients(ids, np.ones((4096, 16), F), timestamp_s=1)
        if table.size >= 0.5 * table.capacity:
            assert table.nbytes / table.size <= 1.3 * 144, (table.size, table.capacity)
            checked += 1
    assert checked >= 5
    expected = (table.capacity * 12 + table._rows.capacity * (64 + 64 + 8 + 1))
    assert table.nbytes == expected


BAD_PUSHES = [
    (np.array([1, 2], np.int32), _grads(2), None, "ids: expected 1-d int64, got int32"),
    (_ids(1, 2).reshape(2, 1), _grads(2), None, "ids: expected 1-d int64"),
    (_ids(1, 2), _grads(2).astype(np.float64), None, "gradients: expected float32"),
    (_ids(1, 2), _grads(2, dim=5), None, "gradients: dim 5 does not match the table's dim 4"),
    (_ids(1, 2), _grads(3), None, "gradients: 3 rows for 2 ids"),
    (_ids(1, 2), _grads(2), np.array([1, 1], np.int32), "counts: expected 1-d int64"),
    (_ids(1, 2), _grads(2), _ids(1), "counts: 1 counts for 2 ids"),
    (_ids(1, 2), _grads(2), _ids(1, -1), "counts: negative count -1"),
    (_ids(1, 2), np.array([[0, 0, 0, 0], [0, np.nan, 0, 0]], F), None, "gradients: contain NaN"),
    (_ids(1, 2), np.array([[0, 0, 0, np.inf], [0, 0, 0, 0]], F), None, "gradients: contain NaN"),
]


@pytest.mark.parametrize("ids, grads, counts, match", BAD_PUSHES)
def test_validate_push_rejects_and_changes_nothing(ids, grads, counts, match):
    table = _table(occurrence_threshold=1)
    table.apply_gradients(_ids(1), _grads(1), timestamp_s=1)
    table.apply_gradients(_ids(1), _grads(1), timestamp_s=1)
    before = table.export()
    nbytes = table.nbytes
    with pytest.raises(InvalidArgument, match=f"table 'emb': {match}"):
        table.validate_push(ids, grads, counts)
    with pytest.raises(InvalidArgument, match=match):
        table.apply_gradients(ids, grads, counts, timestamp_s=2)
    after = table.export()
    for field in ("ids", "embeddings", "slots", "last_update_s"):
        np.testing.assert_array_equal(getattr(after, field), getattr(before, field))
    assert table.nbytes == nbytes and table.max_seen_s == 1
    # the sketch is untouched too: id 2 still needs two pushes
    assert table.apply_gradients(_ids(2), _grads(1)).filtered == 1


def test_touched_keys_overflow_semantics():
    table = _table(touched_capacity=1000, initial_capacity=16)
    ids = np.arange(1005, dtype=np.int64)
    table.apply_gradients(ids, _grads(1005), timestamp_s=1)
    stolen, dropped = table.steal_touched()
    assert dropped == 1001 and sorted(stolen.tolist()) == [1001, 1002, 1003, 1004]
    assert table.touched_dropped_total == 1001
    assert table.steal_touched() == (pytest.approx(np.zeros(0)), 0)
    table.apply_gradients(_ids(5, 5, 6), _grads(3), timestamp_s=2)
    assert sorted(table.steal_touched()[0].tolist()) == [5, 6]
    for _ in range(300):  # epochs wrap around without losing marks
        table.apply_gradients(_ids(7), _grads(1), timestamp_s=3)
        assert table.steal_touched()[0].tolist() == [7]


def test_export_load_round_trip():
    init = InitializerConfig(InitializerKind.RANDOM_UNIFORM, seed=4)
    hp = (("learning_rate", 0.05),)
    src = _table(dim=6, kind=OptimizerKind.ADAM, hp=hp, init=init)
    rng = np.random.default_rng(8)
    for step in range(5):
        ids = rng.integers(0, 300, 200, dtype=np.int64)
        src.apply_gradients(ids, rng.normal(size=(200, 6)).astype(F), timestamp_s=100 + step)
    rows = src.export()
    dst = _table(dim=6, kind=OptimizerKind.ADAM, hp=hp, init=init, initial_capacity=16)
    dst.load(rows.ids, rows.embeddings, rows.slots, rows.last_update_s)
    assert dst.size == src.size and dst.max_seen_s == src.max_seen_s
    assert dst.steal_touched()[0].size == 0
    ids = np.arange(-5, 305, dtype=np.int64)
    for field in ("found", "embeddings", "slots", "last_update_s"):
        np.testing.assert_array_equal(getattr(dst.inspect(ids), field),
                                      getattr(src.inspect(ids), field))
    ids = rng.integers(0, 310, 100, dtype=np.int64)
    grads = rng.normal(size=(100, 6)).astype(F)
    src.apply_gradients(ids, grads, timestamp_s=200, global_step=6)
    dst.apply_gradients(ids, grads, timestamp_s=200, global_step=6)
    np.testing.assert_array_equal(dst.lookup(ids), src.lookup(ids))
    with pytest.raises(InvalidArgument, match="slots: expected float32"):
        dst.load(_ids(1), np.zeros((1, 6), F), np.zeros((1, 3), F), _ids(0))
    with pytest.raises(InvalidArgument, match="ids: 1 duplicates"):
        dst.load(_ids(1, 1), np.zeros((2, 6), F), np.zeros((2, 14), F), _ids(0, 0))


def test_pulls_and_pushes_from_threads():
    table = _table(dim=8, initial_capacity=16)
    ids = np.arange(20000, dtype=np.int64)
    errors = []

    def pusher(part):
        try:
            for chunk in np.array_split(part, 20):
                table.apply_gradients(chunk, np.ones((chunk.size, 8), F), timestamp_s=1)
        except (AssertionError, InvalidArgument) as e:
            errors.append(e)

    def puller():
        try:
            for _ in range(50):
                rows = table.lookup(ids)
                assert set(np.unique(rows)) <= {0.0, -1.0}
        except AssertionError as e:
            errors.append(e)

    threads = [threading.Thread(target=pusher, args=(p,)) for p in np.array_split(ids, 4)]
    threads += [threading.Thread(target=puller) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert table.size == 20000
    np.testing.assert_array_equal(table.lookup(ids), -np.ones((20000, 8), F))


def test_read_only_wire_buffers():
    table = _table(kind=OptimizerKind.ADAGRAD, hp=(("learning_rate", 0.1),))
    ids = np.frombuffer(_ids(3, 1, 3).tobytes(), dtype=np.int64)
    grads = np.frombuffer(np.ones((3, 4), F).tobytes(), dtype=F).reshape(3, 4)
    counts = np.frombuffer(_ids(1, 1, 1).tobytes(), dtype=np.int64)
    assert not ids.flags.writeable and not grads.flags.writeable
    assert table.apply_gradients(ids, grads, counts, timestamp_s=1) == PushStats(2, 0, 2)
    assert table.apply_gradients(ids[1:], grads[1:], timestamp_s=1) == PushStats(2, 0, 0)
    assert table.lookup(ids).shape == (3, 4)
