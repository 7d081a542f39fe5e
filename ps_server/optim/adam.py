"""Moment optimizers: Adam, AMSGrad (per-row bias correction) and Adamom.

Kernel signature and conventions: see ``ps_server.optim.sgd``. Adam's
``beta1_power``/``beta2_power`` are width-1 slots per row, so bias correction
counts the updates of that row, as in Monolith's hash tables.
"""

from __future__ import annotations

import numba
import numpy as np

from ps_server.prefetch import DISTANCE, prefetch_row_write

_ONE = np.float32(1.0)


@numba.njit(nogil=True, cache=True)
def _adam_rows(emb, slots, rows, grads, hp, lr_t, amsgrad):
    wd = np.float32(hp[0])
    b1 = np.float32(hp[1])
    b2 = np.float32(hp[2])
    eps = np.float32(hp[3])
    lr = np.float32(lr_t)
    d = emb.shape[1]
    powers = 3 * d if amsgrad else 2 * d
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
        b1p = slots[r, powers]
        b2p = slots[r, powers + 1]
        lr_row = lr * np.sqrt(_ONE - b2p) / (_ONE - b1p)
        for j in range(d):
            w = emb[r, j]
            g = grads[i, j] + wd * w
            m = b1 * slots[r, j] + (_ONE - b1) * g
            v = b2 * slots[r, d + j] + (_ONE - b2) * g * g
            slots[r, j] = m
            slots[r, d + j] = v
            if amsgrad:
                vhat = max(slots[r, 2 * d + j], v)
                slots[r, 2 * d + j] = vhat
                emb[r, j] = w - lr_row * m / (np.sqrt(vhat) + eps)
            else:
                emb[r, j] = w - lr_row * m / (np.sqrt(v) + eps)
        slots[r, powers] = b1p * b1
        slots[r, powers + 1] = b2p * b2


@numba.njit(nogil=True, cache=True)
def adam_kernel(emb, slots, rows, grads, hp, lr_t):
    """hp: (weight_decay, beta1, beta2, epsilon). Slots: m (d), v (d), beta1_power, beta2_power."""
    _adam_rows(emb, slots, rows, grads, hp, lr_t, False)


@numba.njit(nogil=True, cache=True)
def amsgrad_kernel(emb, slots, rows, grads, hp, lr_t):
    """As Adam with slots m, v, vhat (d each), beta1_power, beta2_power."""
    _adam_rows(emb, slots, rows, grads, hp, lr_t, True)


@numba.njit(nogil=True, cache=True)
def adamom_kernel(emb, slots, rows, grads, hp, lr_t):
    """hp: (weight_decay, ada_decay, mom_decay, epsilon). Slots: m (d), v (d), c (d)."""
    wd = np.float32(hp[0])
    ada = np.float32(hp[1])
    mom = np.float32(hp[2])
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
            m = mom * slots[r, j] + (_ONE - mom) * g
            v = ada * slots[r, d + j] + g * g
            c = ada * slots[r, 2 * d + j] + _ONE
            slots[r, j] = m
            slots[r, d + j] = v
            slots[r, 2 * d + j] = c
            emb[r, j] = w - lr * m / np.sqrt(v / c + eps)
