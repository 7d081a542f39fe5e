"""The hidden logistic model behind the synthetic stream.

Per-id parameters are not stored: they are a keyed hash of the fid, so any number
of ids has a fixed truth at no memory cost and any batch can be scored later.
"""

from __future__ import annotations

import math

import numpy as np

from worker.data.batch import Batch
from worker.data.config import SyntheticConfig
from worker.data.ffm import slot_to_key
from worker.data.ids import mix64, salt
from worker.data.ragged import segment_mean

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_PURPOSE_TRUTH = 1
_PURPOSE_DENSE = 2


class GroundTruth:
    """True click probability of any batch whose features follow ``config``."""

    def __init__(self, config: SyntheticConfig):
        self.config = config
        self._salt = salt(config.seed, _PURPOSE_TRUTH)
        s, k = config.num_slots, config.truth_dim
        pairs = s * (s - 1) // 2
        self._w_scale = config.first_order_scale / math.sqrt(s)
        self._v_scale = math.sqrt(config.interaction_scale / math.sqrt(pairs * k)) if pairs else 0.0
        direction = np.random.default_rng([config.seed, _PURPOSE_DENSE]).standard_normal(
            config.num_dense)
        norm = np.linalg.norm(direction)
        self.dense_weights = direction * (config.dense_scale / norm if norm else 0.0)

    def id_params(self, fids: np.ndarray) -> np.ndarray:
        """Hidden per-id values. fids: (n,) int64 -> (n, 1 + truth_dim) float64.

        Column 0 is the first-order weight, the rest the interaction vector; each
        entry is uniform with unit variance, from 16 bits of a keyed hash of the fid.
        """
        width = 1 + self.config.truth_dim
        words = (width + 3) // 4
        base = mix64(np.ascontiguousarray(fids, dtype=np.int64).view(np.uint64) ^ self._salt)
        hashed = np.empty((base.shape[0], words), dtype=np.uint64)
        hashed[:, 0] = base
        for w in range(1, words):
            hashed[:, w] = mix64(base + np.uint64(w) * _GOLDEN)
        u16 = hashed.view(np.uint16).reshape(base.shape[0], 4 * words)[:, :width]
        return (u16.astype(np.float64) + 0.5) * (2 * math.sqrt(3) / 65536) - math.sqrt(3)

    def logits(self, batch: Batch) -> np.ndarray:
        """(b,) float64 true logits."""
        cfg = self.config
        logit = np.full(batch.size, cfg.bias, dtype=np.float64)
        if cfg.num_dense:
            logit += batch.dense.astype(np.float64) @ self.dense_weights
        v_sum = np.zeros((batch.size, cfg.truth_dim), dtype=np.float64)
        v_sq = np.zeros(batch.size, dtype=np.float64)
        for s in range(cfg.num_slots):
            ragged = batch.sparse[slot_to_key(s)]
            pooled = segment_mean(self.id_params(ragged.values), ragged.row_splits)
            logit += self._w_scale * pooled[:, 0]
            v = self._v_scale * pooled[:, 1:]
            v_sum += v
            v_sq += np.einsum("ij,ij->i", v, v)
        return logit + 0.5 * (np.einsum("ij,ij->i", v_sum, v_sum) - v_sq)

    def probability(self, batch: Batch) -> np.ndarray:
        """(b,) float64 true click probability."""
        return 1.0 / (1.0 + np.exp(-self.logits(batch)))
