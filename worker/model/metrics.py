"""Evaluation metrics on (n,) labels and predictions, over the arrays' own module.

Each returns a Python float; they accept NumPy or CuPy arrays.
"""

from __future__ import annotations

from typing import Any

from worker.model.backend import array_module_of


def auc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U); tied scores share their mean rank.

    labels: (n,) {0, 1}; scores: (n,) any real order (probabilities or logits).
    NaN when all labels are equal.
    """
    xp = array_module_of(scores)
    labels = xp.asarray(labels, dtype=xp.float64).ravel()
    scores = xp.asarray(scores).ravel()
    n = scores.shape[0]
    n_pos = float(labels.sum())
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = xp.argsort(scores)
    ranked = scores[order]
    starts = xp.ones(n, dtype=bool)
    starts[1:] = ranked[1:] != ranked[:-1]
    group = xp.cumsum(starts) - 1
    first = xp.nonzero(starts)[0]
    last = xp.concatenate([first[1:], xp.asarray([n], dtype=first.dtype)])
    mean_rank = (first + 1 + last).astype(xp.float64) / 2
    pos_rank_sum = float((mean_rank[group] * labels[order]).sum())
    return (pos_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def logloss(labels: Any, probs: Any, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of probabilities clipped to [eps, 1 - eps]."""
    xp = array_module_of(probs)
    y = xp.asarray(labels, dtype=xp.float64)
    p = xp.clip(xp.asarray(probs, dtype=xp.float64), eps, 1 - eps)
    return float(-(y * xp.log(p) + (1 - y) * xp.log1p(-p)).mean())


def calibration(labels: Any, probs: Any) -> float:
    """Mean prediction / mean label: 1 is calibrated, > 1 over-predicts. NaN without clicks."""
    xp = array_module_of(probs)
    mean_label = float(xp.asarray(labels, dtype=xp.float64).mean())
    if mean_label == 0:
        return float("nan")
    return float(xp.asarray(probs, dtype=xp.float64).mean()) / mean_label
