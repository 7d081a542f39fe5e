"""The reference CTR model: pooled embeddings + dense features -> MLP -> logit, logloss.

Forward and backward are written by hand over ``xp``; the embedding rows come in
per unique id (pulled from the PS) and their gradients go out the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from worker.data import Batch, SyntheticConfig, slot_to_key
from worker.model.backend import Device, from_host, get_array_module
from worker.model.losses import logloss
from worker.model.mlp import init_params, mlp_backward, mlp_forward, mlp_param_shapes
from worker.model.pooling import SlotIndex, pool_backward, pool_forward, slot_index
from worker.model.types import Pooling, SlotLookup, SlotSpec, StepResult

_LOGIT_KERNEL = "mlp/logit/kernel"


@dataclass(frozen=True)
class ModelConfig:
    """Slots (pooled in order), ``num_dense`` dense features, ReLU ``hidden_units``.

    ``slots`` and ``hidden_units`` may be given as any sequence; they are stored as tuples.

    The MLP input is the pooled slots concatenated in order, then the dense features.
    """

    slots: tuple[SlotSpec, ...] = ()
    num_dense: int = 0
    hidden_units: tuple[int, ...] = (64, 32)
    interaction: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", tuple(self.slots))
        object.__setattr__(self, "hidden_units", tuple(self.hidden_units))
        names = [s.name for s in self.slots]
        if len(set(names)) != len(names):
            raise ValueError(f"slots must have distinct names, got {names}")
        if self.num_dense < 0:
            raise ValueError(f"num_dense must be >= 0, got {self.num_dense}")
        if any(h < 1 for h in self.hidden_units):
            raise ValueError(f"hidden_units must all be >= 1, got {self.hidden_units!r}")
        widths = {s.output_width for s in self.slots}
        if self.interaction and len(widths) > 1:
            raise ValueError(f"interaction needs every slot pooled to one width, got {widths}")

    @property
    def num_interactions(self) -> int:
        """Pairwise dot products of pooled slots (DLRM-style) when ``interaction`` is on."""
        n = len(self.slots)
        return n * (n - 1) // 2 if self.interaction else 0

    @property
    def input_width(self) -> int:
        return sum(s.output_width for s in self.slots) + self.num_dense + self.num_interactions

    @classmethod
    def for_synthetic(cls, data: SyntheticConfig, dim: int = 8,
                      pooling: Pooling = Pooling.SUM, first_n: int = 0,
                      hidden_units: tuple[int, ...] = (64, 32),
                      interaction: bool = False) -> ModelConfig:
        """One slot per synthetic slot (``feature_<s>``), all with the same dim and pooling."""
        slots = tuple(SlotSpec(slot_to_key(s), dim, pooling, first_n)
                      for s in range(data.num_slots))
        return cls(slots, data.num_dense, hidden_units, interaction)


@dataclass(frozen=True, eq=False)
class _Cache:
    indexes: list[SlotIndex]
    mlp_inputs: list[Any]
    labels: Any
    pooled: Any = None


class CTRModel:
    """Reference CTR model over ``xp`` (NumPy by default).

    Computation runs in the dtype of the dense parameters (float32 in training,
    float64 for gradient checks); rows and dense features are cast to it.
    """

    def __init__(self, config: ModelConfig, xp: ModuleType | None = None):
        self.config = config
        self.xp = get_array_module(Device.CPU) if xp is None else xp
        self.slots = config.slots

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return mlp_param_shapes(self.config.input_width, self.config.hidden_units)

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        return init_params(self.param_shapes(), seed)

    def _check(self, batch: Batch, lookups: Mapping[str, SlotLookup],
               rows: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        missing = sorted(set(self.param_shapes()) - set(params))
        if missing:
            raise ValueError(f"dense parameters missing: {missing}")
        if batch.dense.shape[1] != self.config.num_dense:
            raise ValueError(f"batch has {batch.dense.shape[1]} dense features, model expects "
                             f"{self.config.num_dense}")
        for spec in self.slots:
            if spec.name not in lookups or spec.name not in rows:
                raise ValueError(f"slot {spec.name!r} needs a lookup and rows")
            expected = (lookups[spec.name].ids.shape[0], spec.dim)
            if tuple(rows[spec.name].shape) != expected:
                raise ValueError(f"rows of slot {spec.name!r} must have shape {expected} "
                                 f"(unique ids, dim), got {tuple(rows[spec.name].shape)}")

    def _forward(self, batch: Batch, lookups: Mapping[str, SlotLookup],
                 rows: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, _Cache]:
        self._check(batch, lookups, rows, params)
        xp = self.xp
        dtype = params[_LOGIT_KERNEL].dtype
        parts, indexes = [], []
        for spec in self.slots:
            index = slot_index(xp, spec, lookups[spec.name], dtype)
            indexes.append(index)
            parts.append(pool_forward(xp, spec, xp.asarray(rows[spec.name], dtype=dtype), index))
        pooled = xp.stack(parts, axis=1) if self.config.interaction else None
        parts.append(from_host(xp, batch.dense, dtype))
        if pooled is not None:
            upper = np.triu_indices(len(self.slots), k=1)
            parts.append(xp.einsum("bid,bjd->bij", pooled, pooled)[:, upper[0], upper[1]])
        x = xp.concatenate(parts, axis=1)
        logits, mlp_inputs = mlp_forward(xp, x, params, len(self.config.hidden_units))
        return logits, _Cache(indexes, mlp_inputs, from_host(xp, batch.labels, dtype), pooled)

    def predict(self, batch: Batch, lookups: Mapping[str, SlotLookup],
                rows: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        """(b,) logits."""
        return self._forward(batch, lookups, rows, params)[0]

    def forward_backward(self, batch: Batch, lookups: Mapping[str, SlotLookup],
                         rows: Mapping[str, Any], params: Mapping[str, Any]) -> StepResult:
        """Mean logloss over the batch and its gradients (see ``StepResult``)."""
        xp = self.xp
        logits, cache = self._forward(batch, lookups, rows, params)
        loss, grad_logits = logloss(xp, logits, cache.labels)
        grad_x, param_grads = mlp_backward(xp, grad_logits, params, cache.mlp_inputs,
                                           len(self.config.hidden_units))
        grad_dots = None
        if cache.pooled is not None:
            n = len(self.slots)
            upper = np.triu_indices(n, k=1)
            pair = xp.zeros((grad_x.shape[0], n, n), dtype=grad_x.dtype)
            pair[:, upper[0], upper[1]] = grad_x[:, grad_x.shape[1] - self.config.num_interactions:]
            grad_dots = xp.einsum("bij,bjd->bid", pair + pair.transpose(0, 2, 1), cache.pooled)
        row_grads = {}
        offset = 0
        for k, (spec, index) in enumerate(zip(self.slots, cache.indexes, strict=True)):
            grad_pooled = grad_x[:, offset:offset + spec.output_width]
            if grad_dots is not None:
                grad_pooled = grad_pooled + grad_dots[:, k, :]
            row_grads[spec.name] = pool_backward(xp, spec, grad_pooled, index)
            offset += spec.output_width
        return StepResult(loss, logits, row_grads, param_grads)
