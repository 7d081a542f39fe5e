"""AUC (ranks, ties), logloss and calibration against brute-force references."""

import math

import numpy as np
import pytest

from worker.model import auc, calibration, logloss


def _pairwise_auc(labels, scores):
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 300))
        labels = rng.integers(0, 2, n).astype(np.float32)
        if labels.min() == labels.max():
            continue
        scores = rng.integers(0, 10, n).astype(np.float64)
        assert auc(labels, scores) == pytest.approx(_pairwise_auc(labels, scores), abs=1e-12)


def test_auc_edge_cases():
    assert auc([0, 0, 1, 1], np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc([1, 1, 0, 0], np.array([0.1, 0.2, 0.3, 0.4])) == 0.0
    assert auc([0, 1, 0, 1], np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert math.isnan(auc([1, 1], np.array([0.2, 0.3])))


def test_logloss_and_calibration():
    y = np.array([1, 0, 1, 0], np.float32)
    p = np.array([0.9, 0.2, 0.6, 0.1])
    expected = -np.mean(np.log([0.9, 0.8, 0.6, 0.9]))
    assert logloss(y, p) == pytest.approx(expected)
    assert np.isfinite(logloss(y, np.array([0.0, 1.0, 1.0, 0.0])))
    assert calibration(y, p) == pytest.approx(0.45 / 0.5)
    assert math.isnan(calibration(np.zeros(3), np.ones(3)))
