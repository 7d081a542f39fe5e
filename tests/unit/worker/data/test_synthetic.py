"""The synthetic stream: reproducible, time-ordered, shardable, Zipf ids, planted truth."""

import numpy as np
import pytest

from worker.data import Batch, Split, SyntheticConfig, SyntheticStream, slot_of, slot_to_key
from worker.data.synthetic import zipf_ranks

SMALL = {"num_slots": 3, "vocab_size": 5000, "num_dense": 2, "num_examples": 10_000,
         "num_eval_examples": 3_000, "block_size": 1000, "max_ids_per_slot": 3, "seed": 7}


def _all(stream, split=Split.TRAIN, **kw):
    return Batch.concat(list(stream.blocks(split, **kw)))


def _same(a: Batch, b: Batch) -> bool:
    return (all(np.array_equal(a.sparse[k].values, b.sparse[k].values)
                and np.array_equal(a.sparse[k].row_splits, b.sparse[k].row_splits)
                for k in a.sparse)
            and np.array_equal(a.dense, b.dense) and np.array_equal(a.labels, b.labels)
            and np.array_equal(a.timestamps_s, b.timestamps_s))


def test_same_seed_same_stream_and_other_seed_differs():
    a = _all(SyntheticStream(SyntheticConfig(**SMALL)))
    b = _all(SyntheticStream(SyntheticConfig(**SMALL)))
    c = _all(SyntheticStream(SyntheticConfig(**{**SMALL, "seed": 8})))
    assert _same(a, b)
    assert not np.array_equal(a.sparse["feature_0"].values, c.sparse["feature_0"].values)


def test_shape_dtypes_and_slot_bits():
    cfg = SyntheticConfig(**SMALL)
    batch = _all(SyntheticStream(cfg))
    assert batch.size == cfg.num_examples
    assert list(batch.sparse) == [slot_to_key(s) for s in range(3)]
    assert batch.dense.dtype == np.float32 and batch.dense.shape == (10_000, 2)
    assert batch.labels.dtype == np.float32 and set(np.unique(batch.labels)) <= {0.0, 1.0}
    for s in range(3):
        ragged = batch.sparse[slot_to_key(s)]
        assert ragged.values.dtype == np.int64
        assert (slot_of(ragged.values) == s).all()
        lengths = ragged.row_lengths()
        assert lengths.min() >= 1 and lengths.max() <= 3


def test_time_ordered_and_eval_spans_the_same_range():
    cfg = SyntheticConfig(**SMALL, examples_per_s=50.0)
    stream = SyntheticStream(cfg)
    train, evals = _all(stream), _all(stream, Split.EVAL)
    assert (np.diff(train.timestamps_s) >= 0).all()
    assert (np.diff(evals.timestamps_s) >= 0).all()
    assert train.timestamps_s[0] == cfg.start_time_s
    assert train.timestamps_s[-1] == cfg.start_time_s + (cfg.num_examples - 1) // 50
    assert evals.timestamps_s[0] == cfg.start_time_s
    assert evals.timestamps_s[-1] >= train.timestamps_s[-1] - 1
    assert evals.size == cfg.num_eval_examples
    assert not np.array_equal(train.dense[:100], evals.dense[:100])


def test_shards_are_disjoint_and_cover_the_stream():
    stream = SyntheticStream(SyntheticConfig(**SMALL))
    full = _all(stream)
    shards = [_all(stream, worker_index=i, num_workers=3) for i in range(3)]
    assert sum(s.size for s in shards) == full.size
    merged = np.sort(np.concatenate([s.timestamps_s * 0 + s.dense[:, 0].view(np.int32)
                                     for s in shards]))
    np.testing.assert_array_equal(merged, np.sort(full.dense[:, 0].view(np.int32)))
    again = _all(stream, worker_index=1, num_workers=3)
    assert _same(again, shards[1])
    for s in shards:
        assert (np.diff(s.timestamps_s) >= 0).all()


def test_batches_do_not_depend_on_batch_size():
    stream = SyntheticStream(SyntheticConfig(**SMALL))
    a = Batch.concat(list(stream.batches(333)))
    b = Batch.concat(list(stream.batches(1000)))
    assert _same(a, b)
    assert [x.size for x in stream.batches(4000, drop_remainder=True)] == [4000, 4000]


def test_zipf_head_is_heavy_and_ranks_in_range():
    ranks = zipf_ranks(np.random.default_rng(0), 200_000, 1000, 1.1)
    assert ranks.min() >= 0 and ranks.max() <= 999
    counts = np.bincount(ranks, minlength=1000)
    assert counts[0] > counts[9] > counts[99] > counts[999] >= 0
    assert counts[0] / counts[9] == pytest.approx(10 ** 1.1, rel=0.25)
    flat = zipf_ranks(np.random.default_rng(0), 100_000, 10, 1.0)
    assert set(np.unique(flat)) == set(range(10))


def _share_of_old_ids(cfg: SyntheticConfig) -> float:
    """Fraction of the last block's id occurrences whose id occurred in the first block."""
    blocks = list(SyntheticStream(cfg).blocks())
    first = blocks[0].sparse["feature_0"].values
    last = blocks[-1].sparse["feature_0"].values
    return float(np.isin(last, first).mean())


def test_drift_brings_new_ids_and_fades_old_ones():
    cfg = SyntheticConfig(num_slots=1, vocab_size=100_000, num_examples=40_000,
                          block_size=10_000, examples_per_s=100.0, drift_ids_per_s=20.0)
    assert _share_of_old_ids(cfg) < 0.3
    assert _share_of_old_ids(SyntheticConfig(**{**cfg.__dict__, "drift_ids_per_s": 0.0})) > 0.7


def test_labels_follow_the_true_probability_and_truth_is_informative():
    stream = SyntheticStream(SyntheticConfig(**{**SMALL, "num_examples": 50_000,
                                               "block_size": 10_000}))
    batch = _all(stream)
    p = stream.truth.probability(batch)
    assert ((p > 0) & (p < 1)).all()
    assert batch.labels.mean() == pytest.approx(p.mean(), abs=0.01)
    high = p > np.quantile(p, 0.8)
    low = p < np.quantile(p, 0.2)
    assert batch.labels[high].mean() > 2 * batch.labels[low].mean()


def test_truth_is_a_function_of_ids_only():
    stream = SyntheticStream(SyntheticConfig(**SMALL))
    fids = stream.block(Split.TRAIN, 0).sparse["feature_0"].values
    a = stream.truth.id_params(fids)
    b = stream.truth.id_params(fids[::-1])[::-1]
    np.testing.assert_array_equal(a, b)
    assert a.shape == (fids.shape[0], 1 + stream.config.truth_dim)
    assert abs(a.mean()) < 0.1 and a.std() == pytest.approx(1.0, rel=0.1)


def test_millions_of_distinct_ids_are_possible():
    cfg = SyntheticConfig(num_slots=4, vocab_size=50_000_000, zipf_exponent=0.8,
                          num_examples=400_000, block_size=100_000)
    ids = np.concatenate([b.sparse[k].values for b in SyntheticStream(cfg).blocks()
                          for k in b.sparse])
    assert np.unique(ids).shape[0] > 1_000_000


@pytest.mark.parametrize("field,value,message", [
    ("num_slots", 0, "num_slots must be in"),
    ("zipf_exponent", 0.0, "zipf_exponent must be a finite number > 0"),
    ("max_ids_per_slot", 0, "max_ids_per_slot must be"),
    ("examples_per_s", 0.0, "examples_per_s must be"),
    ("drift_ids_per_s", -1.0, "drift_ids_per_s must be"),
    ("interaction_scale", -1.0, "interaction_scale must be finite and >= 0"),
])
def test_config_validation_names_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**{field: value})


def test_block_index_and_shard_arguments_are_checked():
    stream = SyntheticStream(SyntheticConfig(**SMALL))
    with pytest.raises(ValueError, match="block index must be in"):
        stream.block(Split.TRAIN, 10)
    with pytest.raises(ValueError, match="worker_index must be in"):
        list(stream.blocks(worker_index=3, num_workers=3))
