"""Flatten nested structures of arrays and rebuild them (Monolith's NestedTensors)."""

import numpy as np
import pytest

from worker.data import NestedArrays, Ragged


def test_basic_replace_leaves():
    nested = {"a": np.ones(()), "b": (np.ones(()), np.ones(()))}
    flat = NestedArrays(nested)
    arrays = flat.arrays()
    assert len(arrays) == 3
    out = flat.rebuild([np.zeros(()) for _ in arrays])
    assert out == {"a": 0, "b": (0, 0)}
    assert isinstance(out["b"], tuple)
    assert nested["a"] == 1


def test_constants_only():
    flat = NestedArrays({"a": {"b": 2}, "c": [None, "x", True]})
    assert flat.arrays() == []
    assert flat.rebuild([]) == {"a": {"b": 2}, "c": [None, "x", True]}


def test_ragged_round_trip():
    rt = Ragged.from_rows([[], [1], [2, 3]])
    flat = NestedArrays({"r": rt, "d": [np.arange(3)]})
    arrays = flat.arrays()
    assert len(arrays) == 3
    np.testing.assert_array_equal(arrays[1], [1, 2, 3])
    np.testing.assert_array_equal(arrays[2], [0, 0, 1, 3])
    out = flat.rebuild([a.copy() for a in arrays])
    assert out["r"].to_list() == [[], [1], [2, 3]]
    np.testing.assert_array_equal(out["d"][0], [0, 1, 2])


def test_shared_object_is_stored_once():
    a = np.arange(2)
    flat = NestedArrays([a, {"again": a}])
    assert len(flat.arrays()) == 1
    out = flat.rebuild([np.array([5, 6])])
    assert out[0] is out[1]["again"]


def test_unsupported_leaf_and_wrong_count():
    with pytest.raises(ValueError, match="Tensor is not supported"):
        NestedArrays({"a": 1.5})
    flat = NestedArrays([np.zeros(1)])
    with pytest.raises(ValueError, match="expected 1 arrays, got 0"):
        flat.rebuild([])
