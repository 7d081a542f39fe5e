"""Ragged id lists: row ids, slicing, concatenation, validation."""

import numpy as np
import pytest

from worker.data import Ragged, value_rowids
from worker.data.ragged import row_splits_from_lengths, segment_mean


def test_value_rowids_matches_the_seed_example():
    rt = Ragged.from_rows([[], [1], [2, 3]])
    assert rt.row_splits.tolist() == [0, 0, 1, 3]
    assert value_rowids(rt.row_splits).tolist() == [1, 2, 2]
    assert rt.value_rowids().tolist() == [1, 2, 2]


def test_value_rowids_of_empty_batch_and_all_empty_rows():
    assert value_rowids(np.array([0])).tolist() == []
    assert value_rowids(np.array([0, 0, 0])).tolist() == []


def test_row_splits_from_lengths():
    assert row_splits_from_lengths(np.array([2, 0, 3])).tolist() == [0, 2, 2, 5]


def test_slice_take_and_concat_keep_rows():
    rows = [[1, 2], [], [3], [4, 5, 6], [7]]
    rt = Ragged.from_rows(rows)
    assert rt.slice_rows(1, 4).to_list() == rows[1:4]
    assert rt.slice_rows(2, 2).to_list() == []
    assert rt.take_rows(np.array([3, 0, 1, 3])).to_list() == [rows[3], rows[0], [], rows[3]]
    joined = Ragged.concat([rt.slice_rows(0, 2), rt.slice_rows(2, 5)])
    assert joined.to_list() == rows
    assert Ragged.concat([]).num_rows == 0


def test_invalid_row_splits_are_rejected():
    with pytest.raises(ValueError, match="row_splits must start at 0"):
        Ragged(np.array([1, 2], np.int64), np.array([0, 1], np.int64))
    with pytest.raises(ValueError, match="row_splits must be 1-D"):
        Ragged(np.array([], np.int64), np.zeros((0,), np.int64))


def test_segment_mean_handles_empty_rows():
    splits = np.array([0, 2, 2, 3])
    out = segment_mean(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), splits)
    np.testing.assert_allclose(out, [[2.0, 3.0], [0.0, 0.0], [5.0, 6.0]])
    np.testing.assert_allclose(segment_mean(np.array([1.0, 3.0, 5.0]), splits), [2.0, 0.0, 5.0])
