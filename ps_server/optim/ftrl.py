"""FTRL-Proximal, textbook form (the l1 shrink applies to both signs of z).

Kernel signature and conventions: see ``ps_server.optim.sgd``.
"""

from __future__ import annotations

import numba
import numpy as np

from ps_server.prefetch import DISTANCE, prefetch_row_write

_ZERO = np.float32(0.0)


@numba.njit(nogil=True, cache=True)
def ftrl_kernel(emb, slots, rows, grads, hp, lr_t):
    """hp: (weight_decay, beta, l1, l2). Slots: n (d, initial_accumulator), z (d)."""
    wd = np.float32(hp[0])
    beta = np.float32(hp[1])
    l1 = np.float32(hp[2])
    l2 = np.float32(hp[3])
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
            n = slots[r, j]
            n_new = n + g * g
            sqrt_new = np.sqrt(n_new)
            sigma = (sqrt_new - np.sqrt(n)) / lr
            z = slots[r, d + j] + g - sigma * w
            slots[r, j] = n_new
            slots[r, d + j] = z
            if abs(z) <= l1:
                emb[r, j] = _ZERO
            else:
                shrunk = z - l1 if z > _ZERO else z + l1
                emb[r, j] = -shrunk / ((beta + sqrt_new) / lr + l2)
