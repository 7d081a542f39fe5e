"""Yardsticks for model quality: a frequency-only predictor and the Bayes-optimal AUC.

A trained model is only interesting if it beats ``FrequencyBaseline`` (counting,
no learning) and approaches ``bayes_optimal_auc`` (the truth itself). Host NumPy:
these are counting tables, not model math, and never run on a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from worker.data import Batch, Split, SyntheticStream
from worker.data.ragged import segment_mean
from worker.model.metrics import auc


def _logit(p: np.ndarray | float) -> np.ndarray | float:
    return np.log(p) - np.log1p(-p)


class FrequencyBaseline:
    """Sum over slots of each id's smoothed click log-odds, relative to the global CTR.

    Per slot and id, ``ctr = (clicks + smoothing * prior) / (impressions + smoothing)``;
    an example's logit is ``logit(prior) + sum_slots mean_ids(logit(ctr) - logit(prior))``
    (unseen ids and empty rows add 0). This is naive Bayes over slots: it ranks well
    and ignores dense features and interactions.
    """

    def __init__(self, keys: Sequence[str] | None = None, smoothing: float = 20.0):
        if not (smoothing > 0 and math.isfinite(smoothing)):
            raise ValueError(f"smoothing must be a finite number > 0, got {smoothing}")
        self.keys = None if keys is None else list(keys)
        self.smoothing = smoothing
        self.prior = math.nan
        self._tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def fit(self, batches: Iterable[Batch]) -> FrequencyBaseline:
        """Count clicks and impressions per id over all batches (one pass)."""
        values: dict[str, list[np.ndarray]] = {}
        clicks: dict[str, list[np.ndarray]] = {}
        labels = []
        for batch in batches:
            keys = list(batch.sparse) if self.keys is None else self.keys
            labels.append(batch.labels)
            for key in keys:
                ragged = batch.sparse[key]
                values.setdefault(key, []).append(ragged.values)
                clicks.setdefault(key, []).append(batch.labels[ragged.value_rowids()])
        if not labels:
            raise ValueError("fit needs at least one batch")
        all_labels = np.concatenate(labels).astype(np.float64)
        self.prior = float(np.clip(all_labels.mean(), 1e-6, 1 - 1e-6))
        base = _logit(self.prior)
        for key, parts in values.items():
            ids, inverse = np.unique(np.concatenate(parts), return_inverse=True)
            c = np.bincount(inverse, weights=np.concatenate(clicks[key]), minlength=len(ids))
            n = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
            ctr = (c + self.smoothing * self.prior) / (n + self.smoothing)
            self._tables[key] = (ids, _logit(ctr) - base)
        return self

    def predict(self, batch: Batch) -> np.ndarray:
        """(b,) float64 click probabilities."""
        if not self._tables:
            raise ValueError("predict before fit")
        logit = np.full(batch.size, _logit(self.prior), dtype=np.float64)
        for key, (ids, delta) in self._tables.items():
            ragged = batch.sparse[key]
            pos = np.minimum(np.searchsorted(ids, ragged.values), len(ids) - 1)
            found = ids[pos] == ragged.values
            logit += segment_mean(np.where(found, delta[pos], 0.0), ragged.row_splits)
        return 1.0 / (1.0 + np.exp(-logit))


def bayes_optimal_auc(stream: SyntheticStream, split: Split = Split.EVAL) -> float:
    """AUC of the true click probabilities against the sampled labels over ``split``."""
    labels, probs = [], []
    for block in stream.blocks(split):
        labels.append(block.labels)
        probs.append(stream.truth.probability(block))
    return auc(np.concatenate(labels), np.concatenate(probs))
