"""Configuration of the built-in synthetic click stream."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from worker.data.ids import MAX_SLOT


class Split(Enum):
    """Which part of the stream: TRAIN and EVAL are independent draws over the same time range."""

    TRAIN = "train"
    EVAL = "eval"


def _require(ok: bool, field: str, value: object, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{field} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class SyntheticConfig:
    """A click stream whose true click probability is known.

    Each example has ``num_slots`` sparse slots of ``min_ids_per_slot..max_ids_per_slot``
    ids (uniform), drawn by Zipf(``zipf_exponent``) rank over ``vocab_size`` ids per slot,
    and ``num_dense`` standard-normal dense features. The hidden model is
    ``logit = bias + dense . a + sum_s w_s + sum_{s<t} <v_s, v_t>`` where ``w_s`` and
    ``v_s`` (``truth_dim``) are the slot means of per-id values fixed by hashing the id;
    the three ``*_scale`` fields are the standard deviations of the three terms.

    Example ``g`` has timestamp ``start_time_s + floor(g / examples_per_s)``. With
    ``drift_ids_per_s > 0`` the id at popularity rank ``r`` at time ``t`` is
    ``r - floor(drift_ids_per_s * (t - start_time_s))``: new ids enter at the head and
    fade down the tail. The stream is cut into ``block_size`` blocks, each seeded by
    ``(seed, split, block)``, so content is independent of batch size and worker count.
    """

    num_slots: int = 8
    vocab_size: int = 1_000_000
    zipf_exponent: float = 1.1
    min_ids_per_slot: int = 1
    max_ids_per_slot: int = 1
    num_dense: int = 4
    truth_dim: int = 4
    bias: float = -1.5
    first_order_scale: float = 1.0
    interaction_scale: float = 0.5
    dense_scale: float = 1.0
    num_examples: int = 1_000_000
    num_eval_examples: int = 100_000
    block_size: int = 8192
    start_time_s: int = 1_600_000_000
    examples_per_s: float = 100.0
    drift_ids_per_s: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        _require(1 <= self.num_slots <= MAX_SLOT + 1, "num_slots", self.num_slots,
                 f"in [1, {MAX_SLOT + 1}]")
        _require(self.vocab_size >= 1, "vocab_size", self.vocab_size, ">= 1")
        _require(self.zipf_exponent > 0 and math.isfinite(self.zipf_exponent),
                 "zipf_exponent", self.zipf_exponent, "a finite number > 0")
        _require(self.min_ids_per_slot >= 0, "min_ids_per_slot", self.min_ids_per_slot, ">= 0")
        _require(self.max_ids_per_slot >= max(self.min_ids_per_slot, 1), "max_ids_per_slot",
                 self.max_ids_per_slot, f">= max(min_ids_per_slot, 1) = "
                 f"{max(self.min_ids_per_slot, 1)}")
        _require(self.num_dense >= 0, "num_dense", self.num_dense, ">= 0")
        _require(self.truth_dim >= 1, "truth_dim", self.truth_dim, ">= 1")
        for name in ("bias", "first_order_scale", "interaction_scale", "dense_scale"):
            value = getattr(self, name)
            ok = math.isfinite(value) and (name == "bias" or value >= 0)
            _require(ok, name, value, "finite" if name == "bias" else "finite and >= 0")
        _require(self.num_examples >= 0, "num_examples", self.num_examples, ">= 0")
        _require(self.num_eval_examples >= 0, "num_eval_examples", self.num_eval_examples, ">= 0")
        _require(self.block_size >= 1, "block_size", self.block_size, ">= 1")
        _require(self.start_time_s >= 0, "start_time_s", self.start_time_s, ">= 0")
        _require(self.examples_per_s > 0 and math.isfinite(self.examples_per_s),
                 "examples_per_s", self.examples_per_s, "a finite number > 0")
        _require(self.drift_ids_per_s >= 0 and math.isfinite(self.drift_ids_per_s),
                 "drift_ids_per_s", self.drift_ids_per_s, "a finite number >= 0")
        _require(self.seed >= 0, "seed", self.seed, ">= 0")

    def num_split_examples(self, split: Split) -> int:
        return self.num_examples if split is Split.TRAIN else self.num_eval_examples
