"""First-order optimizers: SGD and (Nesterov) momentum.

Every kernel of ``ps_server.optim`` shares one signature::

    kernel(emb (R, d) f32, slots (R, S) f32, rows (k,) int64, grads (k, d) f32,
           hp (h,) f64, lr_t float)

and updates ``emb[rows[i]]`` with ``grads[i]``; rows < 0 are skipped (filtered
ids). ``hp`` holds the hyperparameters in the order of the optimizer's spec;
``lr_t`` is the (warmed-up) learning rate. Arithmetic is float32.
"""

from __future__ import annotations

import numba
import numpy as np

from ps_server.prefetch import DISTANCE, prefetch_row_write

_ONE = np.float32(1.0)


@numba.njit(nogil=True, cache=True)
def sgd_kernel(emb, slots, rows, grads, hp, lr_t):
    """hp: (weight_decay,). No slots."""
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
            emb[r, j] = w - lr * g


@numba.njit(nogil=True, cache=True)
def momentum_kernel(emb, slots, rows, grads, hp, lr_t):
    """hp: (weight_decay, momentum, use_nesterov). Slots: n (d)."""
    wd = np.float32(hp[0])
    mu = np.float32(hp[1])
    nesterov = hp[2] != 0.0
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
            n_prev = slots[r, j]
            n = mu * n_prev - lr * g
            slots[r, j] = n
            if nesterov:
                emb[r, j] = w + (-mu * n_prev + (_ONE + mu) * n)
            else:
                emb[r, j] = w + n
