"""Gradient clipping by global norm (Monolith's clip_ops), over the arrays' own module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worker.model.backend import array_module_of


def global_norm(arrays: Sequence[Any]) -> Any:
    """sqrt of the sum of squares of every element of every array (a 0-d array).

    inf when any element is infinite; 0 for no arrays or all zeros.
    """
    if not arrays:
        return 0.0
    xp = array_module_of(arrays[0])
    total = sum(xp.sum(xp.square(xp.asarray(a))) for a in arrays)
    return xp.sqrt(total)


def clip_by_global_norm(arrays: Sequence[Any], clip_norm: float) -> tuple[list[Any], Any]:
    """New arrays scaled by ``clip_norm / max(global_norm, clip_norm)``, and the global norm.

    Inputs are never modified. A zero norm leaves arrays unchanged; a non-finite norm
    (an exploded gradient) makes every output element NaN, as in TensorFlow, so the
    step is visibly poisoned instead of silently applied.
    """
    if not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0, got {clip_norm}")
    norm = global_norm(arrays)
    if not arrays:
        return [], norm
    xp = array_module_of(arrays[0])
    scale = clip_norm / xp.maximum(norm, clip_norm)
    scale = xp.where(xp.isfinite(norm), scale, xp.nan)
    return [xp.asarray(a) * scale.astype(xp.asarray(a).dtype) for a in arrays], norm
