"""Monolith's small training tasks (cpu_sync_training_test) as fixed inputs plus a model.

Each task's loss is the sum of its pooled embeddings, as in the originals, so row
gradients are exact small integers a loop test can check after push:

- FEATURE: ids ``[1, 2, 3, 4]`` in one example, 5 batches; dim 5, SUM.
- FLOAT_FEATURE: ids ``[0, 0]`` and float feature ``[1.0]``; dim 5, SUM; the output is
  the float feature's row sum (the original's prediction).
- SEQUENCE_FEATURE: ids ``[[1, 2], [], [3, 4, 5]]``; dim 5, FIRST_N(2).
- NON_FEATURE: no sparse features and no parameters; loss 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import Any

import numpy as np

from worker.data import Batch, Ragged
from worker.model.backend import Device, from_host, get_array_module
from worker.model.pooling import pool_backward, pool_forward, slot_index
from worker.model.types import Model, Pooling, SlotLookup, SlotSpec, StepResult

_DIM = 5


class EmbeddingSumModel:
    """loss = sum of every slot's pooled embeddings over the batch; no dense parameters.

    ``logits`` (the per-example output) is the row sum of the dense features.
    """

    def __init__(self, slots: tuple[SlotSpec, ...], xp: ModuleType | None = None):
        self.slots = slots
        self.xp = get_array_module(Device.CPU) if xp is None else xp

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        return {}

    def predict(self, batch: Batch, lookups: Mapping[str, SlotLookup],
                rows: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        return from_host(self.xp, batch.dense).sum(axis=1)

    def forward_backward(self, batch: Batch, lookups: Mapping[str, SlotLookup],
                         rows: Mapping[str, Any], params: Mapping[str, Any]) -> StepResult:
        xp = self.xp
        loss = 0.0
        row_grads = {}
        for spec in self.slots:
            slot_rows = xp.asarray(rows[spec.name])
            index = slot_index(xp, spec, lookups[spec.name], slot_rows.dtype)
            pooled = pool_forward(xp, spec, slot_rows, index)
            loss += float(pooled.sum())
            row_grads[spec.name] = pool_backward(xp, spec, xp.ones_like(pooled), index)
        return StepResult(loss, self.predict(batch, lookups, rows, params), row_grads, {})


class TaskKind(Enum):
    FEATURE = "feature"
    FLOAT_FEATURE = "float_feature"
    SEQUENCE_FEATURE = "sequence_feature"
    NON_FEATURE = "non_feature"


@dataclass(frozen=True, eq=False)
class Task:
    """A named model and its whole, fixed input (batches in order)."""

    name: str
    model: Model
    batches: tuple[Batch, ...]


def _batch(sparse: dict[str, list[list[int]]], dense: list[list[float]], size: int) -> Batch:
    return Batch({k: Ragged.from_rows(v) for k, v in sparse.items()},
                 np.asarray(dense, dtype=np.float32).reshape(size, -1),
                 np.zeros(size, dtype=np.float32))


def make_task(kind: TaskKind | str, xp: ModuleType | None = None) -> Task:
    """The task of ``kind`` (see the module docstring)."""
    kind = TaskKind(kind)
    if kind is TaskKind.FEATURE:
        slots = (SlotSpec("feature", _DIM),)
        batches = tuple(_batch({"feature": [[1, 2, 3, 4]]}, [], 1) for _ in range(5))
    elif kind is TaskKind.FLOAT_FEATURE:
        slots = (SlotSpec("ragged_feature", _DIM),)
        batches = (_batch({"ragged_feature": [[0, 0]]}, [[1.0]], 1),)
    elif kind is TaskKind.SEQUENCE_FEATURE:
        slots = (SlotSpec("sequence_feature", _DIM, Pooling.FIRST_N, 2),)
        batches = (_batch({"sequence_feature": [[1, 2], [], [3, 4, 5]]}, [], 3),)
    else:
        slots = ()
        batches = (_batch({}, [], 1),)
    return Task(f"{kind.value}_task", EmbeddingSumModel(slots, xp), batches)
