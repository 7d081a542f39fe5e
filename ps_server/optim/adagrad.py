"""Accumulator optimizers: Adagrad, Adadelta, RMSprop v1 and v2.

Kernel signature and conventions: see ``ps_server.optim.sgd``.
"""

from __future__ import annotations

import numba
import numpy as np

from ps_server.prefetch import DISTANCE, prefetch_row_write

_ONE = np.float32(1.0)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def adagrad_kernel(emb, slots, rows, grads, hp, lr_t):
    """hp: (weight_decay,). Slots: accum (d). No epsilon, as in Monolith.

    NumPy's error model lets the row loop vectorize; the accumulator starts > 0
    (checked in the config) so the division never sees zero.
    """
    wd = np.float32(hp[0])
    lr = np.float32(lr_t)
    d = emb.shape[1]
    n = rows.shape[0]
    for i in range(n):
        if i + DISTANCE < n:
            q = rows[i + DISTANCE]
            if q >= 0:
                prefetch_row_write(emb, q)
                prefetch_row_write(slots, q)
        r = rows[i]
        if r < 0:
            continue
        for j in range(d):
            w = emb[r, j]
            g = grads[i, j] + wd * w
            acc = slots[r, j] + g * g
            slots[r, j] = acc
            emb[r, j] = w - lr * g / np.sqrt(acc)


@numba.njit(nogil=True, cache=True)
def adadelta_kernel(emb, slots, rows, grads, hp, lr_t):
    """hp: (weight_decay, rho, epsilon). Slots: accum (d), accum_update (d)."""
    wd = np.float32(hp[0])
    rho = np.float32(hp[1])
    eps = np.float32(hp[2])
    lr = np.float32(lr_t)
    d = emb.shape[1]
    n = rows.shape[0]
    for i in range(n):
        if i + DISTANCE < n:
            q = rows[i + DISTANCE]
            if q >= 0:
                prefetch_row_write(emb, q)
                prefetch_row_write(slots, q)
        r = rows[i]
        if r < 0:
            continue
        for j in range(d):
            w = emb[r, j]
            g = grads[i, j] + wd * w
            acc = rho * slots[r, j] + (_ONE - rho) * g * g
            upd = slots[r, d + j]
            u = np.sqrt(upd + eps) / np.sqrt(acc + eps) * g
            emb[r, j] = w - lr * u
            slots[r, j] = acc
            slots[r, d + j] = rho * upd + (_ONE - rho) * u * u


@numba.njit(nogil=True, cache=True)
def rmsprop_kernel(emb, slots, rows, grads, hp, lr_t):
    """hp: (weight_decay, beta1 (momentum), beta2 (decay), epsilon). Slots: m (d), v (d)."""
    wd = np.float32(hp[0])
    b1 = np.float32(hp[1])
    b2 = np.float32(hp[2])
    eps = np.float32(hp[3])
    lr = np.float32(lr_t)
    d = emb.shape[1]
    n = rows.shape[0]
    for i in range(n):
        if i + DISTANCE < n:
            q = rows[i + DISTANCE]
            if q >= 0:
                prefetch_row_write(emb, q)
                prefetch_row_write(slots, q)
        r = rows[i]
        if r < 0:
            continue
        for j in range(d):
            w = emb[r, j]
            g = grads[i, j] + wd * w
            v = b2 * slots[r, d + j] + (_ONE - b2) * g * g
            m = b1 * slots[r, j] + lr * g / np.sqrt(v + eps)
            slots[r, j] = m
            slots[r, d + j] = v
            emb[r, j] = w - m


@numba.njit(nogil=True, cache=True)
def rmspropv2_kernel(emb, slots, rows, grads, hp, lr_t):
    """As RMSprop v1, but v is not scaled by (1 - beta2) and epsilon sits outside the root."""
    wd = np.float32(hp[0])
    b1 = np.float32(hp[1])
    b2 = np.float32(hp[2])
    eps = np.float32(hp[3])
    lr = np.float32(lr_t)
    d = emb.shape[1]
    n = rows.shape[0]
    for i in range(n):
        if i + DISTANCE < n:
            q = rows[i + DISTANCE]
            if q >= 0:
                prefetch_row_write(emb, q)
                prefetch_row_write(slots, q)
        r = rows[i]
        if r < 0:
            continue
        for j in range(d):
            w = emb[r, j]
            g = grads[i, j] + wd * w
            v = b2 * slots[r, d + j] + g * g
            m = b1 * slots[r, j] + lr * g / (np.sqrt(v) + eps)
            slots[r, j] = m
            slots[r, d + j] = v
            emb[r, j] = w - m
