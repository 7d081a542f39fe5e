"""Binary logloss on logits, numerically stable for any logit, over ``xp``."""

from __future__ import annotations

from types import ModuleType
from typing import Any


def sigmoid(xp: ModuleType, z: Any) -> Any:
    """1 / (1 + exp(-z)) without overflow for large |z|."""
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def logloss(xp: ModuleType, logits: Any, labels: Any) -> tuple[float, Any]:
    """Mean logloss of (b,) logits against (b,) {0, 1} labels, and its (b,) gradient.

    Uses ``max(z, 0) - y z + log1p(exp(-|z|))``, exact where a naive
    ``-y log p - (1 - y) log(1 - p)`` overflows or returns inf. An empty batch has loss 0.
    """
    b = logits.shape[0]
    if b == 0:
        return 0.0, xp.zeros_like(logits)
    per_example = xp.maximum(logits, 0) - labels * logits + xp.log1p(xp.exp(-xp.abs(logits)))
    grad = (sigmoid(xp, logits) - labels) / b
    return float(per_example.mean()), grad
