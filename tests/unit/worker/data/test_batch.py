"""Batch validation, slicing, concatenation and re-batching."""

import numpy as np
import pytest

from worker.data import Batch, Ragged, rebatch


def _batch(start: int, size: int) -> Batch:
    rows = [[i] * (i % 3) for i in range(start, start + size)]
    return Batch({"a": Ragged.from_rows(rows)},
                 np.arange(start, start + size, dtype=np.float32)[:, None],
                 (np.arange(start, start + size) % 2).astype(np.float32),
                 np.arange(start, start + size, dtype=np.int64))


def test_rebatch_keeps_order_and_sizes():
    parts = [_batch(0, 5), _batch(5, 1), _batch(6, 9), _batch(15, 2)]
    out = list(rebatch(parts, 4))
    assert [b.size for b in out] == [4, 4, 4, 4, 1]
    whole = Batch.concat(out)
    expected = Batch.concat(parts)
    assert whole.sparse["a"].to_list() == expected.sparse["a"].to_list()
    np.testing.assert_array_equal(whole.dense, expected.dense)
    np.testing.assert_array_equal(whole.timestamps_s, np.arange(17))
    assert [b.size for b in rebatch(parts, 4, drop_remainder=True)] == [4, 4, 4, 4]


def test_slice_rows():
    b = _batch(0, 6).slice_rows(2, 5)
    assert b.size == 3
    assert b.sparse["a"].to_list() == [[2, 2], [], [4]]
    np.testing.assert_array_equal(b.timestamps_s, [2, 3, 4])


def test_mismatched_rows_are_rejected():
    with pytest.raises(ValueError, match="sparse feature 'a' has 1 rows, expected 2"):
        Batch({"a": Ragged.from_rows([[1]])}, np.zeros((2, 0), np.float32),
              np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="dense must be"):
        Batch({}, np.zeros((3, 1), np.float32), np.zeros(2, np.float32))


def test_concat_rejects_different_feature_keys():
    other = Batch({"b": Ragged.from_rows([[1]])}, np.zeros((1, 1), np.float32),
                  np.zeros(1, np.float32), np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="feature keys"):
        Batch.concat([_batch(0, 1), other])


def test_rebatch_rejects_bad_size():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        list(rebatch([_batch(0, 2)], 0))
