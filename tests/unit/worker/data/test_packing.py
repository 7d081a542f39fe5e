"""Packing named arrays by dtype into flat buffers and back."""

import numpy as np
import pytest

from worker.data import (
    merge_dicts,
    pack_arrays,
    pack_typed_keyed_arrays,
    split_by_dtype,
    unpack_arrays,
    unpack_typed_keyed_arrays,
)


def test_pack_unpack_sorted_keys():
    keyed = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([7.0], np.float32),
             "c": np.zeros((0, 4), np.float32)}
    packed, sizes = pack_arrays(keyed)
    assert sizes.tolist() == [1, 6, 0]
    np.testing.assert_array_equal(packed, [7, 0, 1, 2, 3, 4, 5])
    out = unpack_arrays({k: v.shape for k, v in keyed.items()}, packed)
    assert list(out) == ["a", "b", "c"]
    for k, value in keyed.items():
        np.testing.assert_array_equal(out[k], value)


def test_pack_rejects_mixed_dtypes_and_wrong_sizes():
    with pytest.raises(ValueError, match="one dtype"):
        pack_arrays({"a": np.zeros(1, np.float32), "b": np.zeros(1, np.int64)})
    with pytest.raises(ValueError, match="packed has 3 elements"):
        unpack_arrays({"a": (2,)}, np.zeros(3, np.float32))


def test_typed_pack_round_trip():
    keyed = {"w": np.ones((2, 2), np.float32), "ids": np.array([3, 4, 5], np.int64),
             "b": np.array([0.5], np.float32), "step": np.array([9], np.int64)}
    typed = split_by_dtype(keyed)
    assert [sorted(g) for g in typed] == [["b", "w"], ["ids", "step"]]
    packed = pack_typed_keyed_arrays(typed)
    assert len(packed) == 3 and packed[-1].tolist() == [1, 4, 3, 1]
    shapes = [{k: v.shape for k, v in g.items()} for g in typed]
    back = merge_dicts(unpack_typed_keyed_arrays(shapes, packed))
    assert set(back) == set(keyed)
    for k, value in keyed.items():
        np.testing.assert_array_equal(back[k], value)
        assert back[k].dtype == value.dtype


def test_merge_dicts_rejects_duplicates():
    with pytest.raises(ValueError, match="'a' appears in more than one"):
        merge_dicts([{"a": np.zeros(1)}, {"a": np.ones(1)}])
