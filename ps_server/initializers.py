"""Row initializers as numba functions: zeros, ones, constant, random_uniform.

random_uniform is a pure function of (seed, id, column) built on ``mix64``,
so a row re-created on any PS (after expiry, re-sharding, restore) starts
from the same values.
"""

from __future__ import annotations

import numba
import numpy as np

from ps_server.config import InitializerConfig, InitializerKind
from services.keys import mix64

ZEROS, ONES, CONSTANT, RANDOM_UNIFORM = 0, 1, 2, 3
_CODES = {
    InitializerKind.ZEROS: ZEROS,
    InitializerKind.ONES: ONES,
    InitializerKind.CONSTANT: CONSTANT,
    InitializerKind.RANDOM_UNIFORM: RANDOM_UNIFORM,
}
_SEED_SALT = np.uint64(0xD6E8FEB86659FD93)
_COLUMN_STEP = np.uint64(0x9E3779B97F4A7C15)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


def initializer_args(config: InitializerConfig) -> tuple[int, float, float, float, np.uint64]:
    """Scalars a kernel takes for ``config``: (code, value, minval, maxval, seed as uint64)."""
    return (
        _CODES[config.kind],
        float(config.value),
        float(config.minval),
        float(config.maxval),
        np.uint64(config.seed & 0xFFFFFFFFFFFFFFFF),
    )


@numba.njit(inline="always")
def init_row(code, value, minval, maxval, seed, key, out, r):
    """Fills row ``r`` of ``out`` ((R, d) float32) for id ``key`` (int64)."""
    d = out.shape[1]
    if code == RANDOM_UNIFORM:
        base = mix64(np.uint64(key) ^ mix64(seed ^ _SEED_SALT))
        span = maxval - minval
        for j in range(d):
            x = mix64(base + np.uint64(j + 1) * _COLUMN_STEP)
            u = np.float64(x >> np.uint64(11)) * _TO_UNIT
            out[r, j] = np.float32(minval + span * u)
    else:
        if code == ONES:
            c = np.float32(1.0)
        elif code == CONSTANT:
            c = np.float32(value)
        else:
            c = np.float32(0.0)
        for j in range(d):
            out[r, j] = c


@numba.njit(nogil=True, cache=True)
def initialize_rows(code, value, minval, maxval, seed, ids, out):
    """Initial rows of ``ids`` ((n,) int64) into ``out`` ((n, d) float32)."""
    for i in range(ids.shape[0]):
        init_row(code, value, minval, maxval, seed, ids[i], out, i)


def initial_rows(config: InitializerConfig, ids: np.ndarray, dim: int) -> np.ndarray:
    """The rows ``config`` gives ``ids`` ((n,) int64) -> (n, dim) float32."""
    out = np.empty((ids.shape[0], dim), dtype=np.float32)
    initialize_rows(*initializer_args(config), np.ascontiguousarray(ids, dtype=np.int64), out)
    return out
