"""Shared fixtures: a small batch with duplicates and empty rows, and its lookups."""

import numpy as np
import pytest

from worker.data import Batch, Ragged


@pytest.fixture
def small_batch() -> Batch:
    rng = np.random.default_rng(0)
    sparse = {
        "a": Ragged.from_rows([[1, 2, 1], [], [3], [2, 2], [5, 1, 3, 4], [7]]),
        "b": Ragged.from_rows([[10], [11], [10], [12], [11], [10]]),
        "c": Ragged.from_rows([[20, 21, 22], [21], [], [23, 20], [22, 22, 22, 22], [24, 25]]),
    }
    return Batch(sparse, rng.standard_normal((6, 2)).astype(np.float32),
                 np.array([1, 0, 0, 1, 1, 0], np.float32))
