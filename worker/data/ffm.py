"""Random FFM-style examples (Monolith's ``input.py``): feature keys and uniform ids per slot.

Slot ``i`` draws ids from ``[max_vocab * i, max_vocab * i + vocab_sizes[i])`` with
``max_vocab = max(vocab_sizes)``, so slots never share an id. The label is always
0.0, as in the original (``randint(0, 1)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worker.data.batch import Batch
from worker.data.ragged import Ragged


def slot_to_key(slot: int) -> str:
    """Feature key of a slot: ``"feature_<slot>"``."""
    return f"feature_{slot}"


def _check(vocab_sizes: Sequence[int], length: int) -> None:
    if not vocab_sizes or min(vocab_sizes) < 1:
        raise ValueError(f"vocab_sizes must be non-empty with every size >= 1, got "
                         f"{list(vocab_sizes)}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")


def generate_ffm_example(vocab_sizes: Sequence[int], length: int = 5,
                         rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """One example: ``{"label": (1,) float32 [0.0], "feature_<i>": (k_i,) int64}``.

    ``k_i`` is uniform in ``[1, length]``.
    """
    _check(vocab_sizes, length)
    rng = np.random.default_rng() if rng is None else rng
    max_vocab = max(vocab_sizes)
    example = {"label": np.zeros(1, dtype=np.float32)}
    for i, vocab in enumerate(vocab_sizes):
        num_ids = int(rng.integers(length)) + 1
        low = max_vocab * i
        example[slot_to_key(i)] = rng.integers(low, low + vocab, size=num_ids, dtype=np.int64)
    return example


def generate_ffm_batch(vocab_sizes: Sequence[int], batch_size: int, length: int = 5,
                       rng: np.random.Generator | None = None) -> Batch:
    """``batch_size`` such examples as one Batch (no dense features, labels 0)."""
    _check(vocab_sizes, length)
    if batch_size < 0:
        raise ValueError(f"batch_size must be >= 0, got {batch_size}")
    rng = np.random.default_rng() if rng is None else rng
    max_vocab = max(vocab_sizes)
    sparse = {}
    for i, vocab in enumerate(vocab_sizes):
        lengths = rng.integers(length, size=batch_size) + 1
        low = max_vocab * i
        values = rng.integers(low, low + vocab, size=int(lengths.sum()), dtype=np.int64)
        sparse[slot_to_key(i)] = Ragged.from_lengths(values, lengths)
    return Batch(sparse, np.zeros((batch_size, 0), np.float32),
                 np.zeros(batch_size, np.float32))
