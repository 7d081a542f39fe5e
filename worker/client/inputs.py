"""The caller's arrays as the wire wants them: dtype, shape and layout checked, errors naming
the table. Raises ValueError, before anything is sent."""

from __future__ import annotations

import numpy as np


def as_grads(table: str, grads, n: int) -> np.ndarray:
    """(n, dim) float32 C-contiguous; ValueError naming the table when the shape is off."""
    array = np.asarray(grads)
    if array.ndim != 2 or array.shape[0] != n:
        raise ValueError(
            f"table {table!r}: grads must be (n, dim) with n = {n} ids, got shape {list(array.shape)}"
        )
    if array.dtype.kind != "f":
        raise ValueError(
            f"table {table!r}: grads must be floating point (sent as float32), got {array.dtype}"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def initial(value) -> np.ndarray | None:
    """A dense variable's initial value as float32, or None (pull only if it exists)."""
    return None if value is None else np.asarray(value, dtype=np.float32)


def as_dense_grad(grad) -> np.ndarray:
    """A dense gradient as C-contiguous float32."""
    return np.ascontiguousarray(grad, dtype=np.float32)


def as_counts(table: str, counts, n: int) -> np.ndarray | None:
    """(n,) int64 non-negative occurrence weights, or None; ValueError naming the table."""
    if counts is None:
        return None
    array = np.asarray(counts)
    if array.shape != (n,):
        raise ValueError(
            f"table {table!r}: counts must be (n,) with n = {n} ids, got shape {list(array.shape)}"
        )
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"table {table!r}: counts must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < 0:
        raise ValueError(f"table {table!r}: counts must be >= 0")
    return array
