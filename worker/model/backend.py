"""The array-module handle ``xp``: NumPy on CPU, CuPy on a GPU, chosen once.

Model code takes ``xp`` and calls only what NumPy and CuPy share, plus the few
helpers here that differ between them (host transfer, scatter-add).
"""

from __future__ import annotations

from enum import Enum
from types import ModuleType
from typing import Any

import numpy as np

from services.keys import segment_sum


class Device(Enum):
    CPU = "cpu"
    GPU = "gpu"


def _cupy() -> ModuleType:
    try:
        import cupy
    except ImportError as exc:
        raise RuntimeError("device 'gpu' needs CuPy; install cupy-cuda12x (or the "
                           "package matching your CUDA)") from exc
    return cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        cupy = _cupy()
        return cupy.cuda.runtime.getDeviceCount() > 0
    except RuntimeError:
        return False


def get_array_module(device: Device | str = Device.CPU) -> ModuleType:
    """``numpy`` for "cpu", ``cupy`` for "gpu" (RuntimeError when CuPy is missing)."""
    device = Device(device)
    return np if device is Device.CPU else _cupy()


def array_module_of(array: Any) -> ModuleType:
    """The module owning ``array``: cupy for CuPy arrays, numpy otherwise."""
    if type(array).__module__.startswith("cupy"):
        return _cupy()
    return np


def to_host(array: Any) -> np.ndarray:
    """A NumPy array (copied off the GPU when needed)."""
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)


def from_host(xp: ModuleType, array: Any, dtype: Any = None) -> Any:
    """``array`` on ``xp``'s device, optionally cast (no copy on CPU when nothing changes)."""
    return xp.asarray(array, dtype=dtype)


def scatter_add(xp: ModuleType, index: Any, values: Any, num_rows: int) -> Any:
    """Sum rows sharing an index. index: (n,) int64, values: (n, d) -> (num_rows, d).

    On CPU this is the numba segment-sum kernel (``np.add.at`` is ~10x slower).
    """
    if xp is np:
        return segment_sum(np.ascontiguousarray(values), np.ascontiguousarray(index), num_rows)
    import cupyx

    out = xp.zeros((num_rows, values.shape[1]), dtype=values.dtype)
    cupyx.scatter_add(out, index, values)
    return out
