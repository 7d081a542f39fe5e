"""Contracts between the training loop and the models: slots, lookups, step results.

The loop's step, for a Batch ``batch``:

1. ``lookups = dedup_slots(batch, model.slots)``: unique ids per slot (host).
2. Pull ``lookups[name].ids`` from the PS: ``rows[name]``, (u, dim) float32.
3. ``result = model.forward_backward(batch, lookups, rows, params)``.
4. Push ``result.row_grads[name]`` for ``lookups[name].ids`` (already summed over
   duplicates) and ``result.param_grads`` for the dense variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import numpy as np

from worker.data import Batch


class Pooling(Enum):
    """How a slot's variable number of embedding rows become one vector per example.

    SUM and MEAN give (b, dim) (zeros for an empty row); FIRST_N gives (b, n * dim):
    the first ``n`` rows in order, zero-padded.
    """

    SUM = "sum"
    MEAN = "mean"
    FIRST_N = "first_n"


@dataclass(frozen=True)
class SlotSpec:
    """One sparse slot: ``name`` is both the Batch feature key and the embedding table."""

    name: str
    dim: int
    pooling: Pooling = Pooling.SUM
    first_n: int = 0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name must be a non-empty string, got ''")
        if self.dim < 1:
            raise ValueError(f"dim of slot {self.name!r} must be >= 1, got {self.dim}")
        if type(self.pooling) is not Pooling:
            raise ValueError(f"pooling of slot {self.name!r} must be a Pooling, got "
                             f"{self.pooling!r}; allowed: {[p.value for p in Pooling]}")
        if self.pooling is Pooling.FIRST_N and self.first_n < 1:
            raise ValueError(f"first_n of slot {self.name!r} must be >= 1 with FIRST_N "
                             f"pooling, got {self.first_n}")
        if self.pooling is not Pooling.FIRST_N and self.first_n != 0:
            raise ValueError(f"first_n of slot {self.name!r} must be 0 unless pooling is "
                             f"FIRST_N, got {self.first_n}")

    @property
    def output_width(self) -> int:
        """Width of the pooled vector."""
        return self.dim * (self.first_n if self.pooling is Pooling.FIRST_N else 1)


@dataclass(frozen=True, eq=False)
class SlotLookup:
    """One slot of a batch, deduplicated (host arrays).

    ``ids``: (u,) int64 distinct ids in first-occurrence order (what to pull and push).
    ``inverse``: (nnz,) int64 with ``ids[inverse] == values``.
    ``row_splits``: (b + 1,) int64 and ``value_rowids``: (nnz,) int64 of the batch rows.
    """

    ids: np.ndarray
    inverse: np.ndarray
    row_splits: np.ndarray
    value_rowids: np.ndarray


@dataclass(frozen=True, eq=False)
class StepResult:
    """One forward/backward pass over a batch of ``b`` examples.

    ``loss``: the batch loss (Python float). ``logits``: (b,) per-example model output.
    ``row_grads``: slot name -> (u, dim) gradient per unique id, summed over occurrences.
    ``param_grads``: dense parameter name -> gradient of the parameter's shape.
    Arrays live on the model's device.
    """

    loss: float
    logits: Any
    row_grads: dict[str, Any]
    param_grads: dict[str, Any]


class Model(Protocol):
    """What the training loop needs from a model."""

    slots: tuple[SlotSpec, ...]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Dense parameter name -> shape (float32 on the PS)."""

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        """Deterministic initial dense parameters, host float32."""

    def forward_backward(self, batch: Batch, lookups: Mapping[str, SlotLookup],
                         rows: Mapping[str, Any], params: Mapping[str, Any]) -> StepResult:
        """Loss, outputs and gradients for one batch."""

    def predict(self, batch: Batch, lookups: Mapping[str, SlotLookup],
                rows: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        """(b,) per-example outputs, no gradients."""
