"""The array-module handle and its host helpers."""

import numpy as np
import pytest

from worker.model import Device, array_module_of, from_host, get_array_module, to_host
from worker.model.backend import scatter_add


def test_cpu_is_numpy():
    assert get_array_module("cpu") is np
    assert get_array_module(Device.CPU) is np
    assert array_module_of(np.zeros(2)) is np


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="'tpu' is not a valid Device"):
        get_array_module("tpu")


def test_host_round_trip_and_cast():
    a = np.arange(4, dtype=np.float64)
    b = from_host(np, a, np.float32)
    assert b.dtype == np.float32
    assert from_host(np, a) is a
    np.testing.assert_array_equal(to_host(b), a)


def test_scatter_add_matches_add_at():
    rng = np.random.default_rng(0)
    index = rng.integers(0, 7, size=500)
    values = rng.standard_normal((500, 3)).astype(np.float32)
    expected = np.zeros((9, 3), np.float32)
    np.add.at(expected, index, values)
    np.testing.assert_allclose(scatter_add(np, index, values, 9), expected, rtol=1e-5, atol=1e-5)
    assert scatter_add(np, np.zeros(0, np.int64), np.zeros((0, 2)), 3).shape == (3, 2)
