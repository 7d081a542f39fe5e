"""Optimizer registry: slot layout, packed hyperparameters and kernel per OptimizerKind.

Tables and dense variables both bind an optimizer to a row width with
``RowOptimizer`` and call one kernel per batch. Dense-only kinds (Shampoo) have no
row spec; DenseStore runs them from ``ps_server.optim.shampoo``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from ps_server.config import OptimizerConfig, OptimizerKind
from ps_server.optim.adagrad import (
    adadelta_kernel,
    adagrad_kernel,
    rmsprop_kernel,
    rmspropv2_kernel,
)
from ps_server.optim.adam import adam_kernel, adamom_kernel, amsgrad_kernel
from ps_server.optim.ftrl import ftrl_kernel
from ps_server.optim.sgd import momentum_kernel, sgd_kernel


class SlotSpec(NamedTuple):
    """One optimizer slot: width "dim" (one value per column) or 1 (one per row).

    ``initial`` is a constant or the name of the hyperparameter that holds it.
    """

    name: str
    width: str | int
    initial: float | str


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """What a table needs to run an optimizer: slots, hp packing order, kernel."""

    kind: OptimizerKind
    slots: tuple[SlotSpec, ...]
    hyperparameters: tuple[str, ...]
    kernel: Callable


def _dim(name: str, initial: float | str = 0.0) -> SlotSpec:
    return SlotSpec(name, "dim", initial)


_DECAY = ("weight_decay",)
_ADAM_HP = ("weight_decay", "beta1", "beta2", "epsilon")
_POWERS = (SlotSpec("beta1_power", 1, "beta1"), SlotSpec("beta2_power", 1, "beta2"))

SPECS: Mapping[OptimizerKind, OptimizerSpec] = {
    spec.kind: spec
    for spec in (
        OptimizerSpec(OptimizerKind.SGD, (), _DECAY, sgd_kernel),
        OptimizerSpec(
            OptimizerKind.ADAGRAD, (_dim("accum", "initial_accumulator"),), _DECAY, adagrad_kernel
        ),
        OptimizerSpec(
            OptimizerKind.MOMENTUM,
            (_dim("n"),),
            ("weight_decay", "momentum", "use_nesterov"),
            momentum_kernel,
        ),
        OptimizerSpec(OptimizerKind.ADAM, (_dim("m"), _dim("v"), *_POWERS), _ADAM_HP, adam_kernel),
        OptimizerSpec(
            OptimizerKind.AMSGRAD,
            (_dim("m"), _dim("v"), _dim("vhat"), *_POWERS),
            _ADAM_HP,
            amsgrad_kernel,
        ),
        OptimizerSpec(
            OptimizerKind.ADADELTA,
            (_dim("accum"), _dim("accum_update")),
            ("weight_decay", "rho", "epsilon"),
            adadelta_kernel,
        ),
        OptimizerSpec(
            OptimizerKind.FTRL,
            (_dim("n", "initial_accumulator"), _dim("z")),
            ("weight_decay", "beta", "l1", "l2"),
            ftrl_kernel,
        ),
        OptimizerSpec(OptimizerKind.RMSPROP, (_dim("m"), _dim("v")), _ADAM_HP, rmsprop_kernel),
        OptimizerSpec(OptimizerKind.RMSPROPV2, (_dim("m"), _dim("v")), _ADAM_HP, rmspropv2_kernel),
        OptimizerSpec(
            OptimizerKind.ADAMOM,
            (_dim("m"), _dim("v"), _dim("c")),
            ("weight_decay", "ada_decay", "mom_decay", "epsilon"),
            adamom_kernel,
        ),
    )
}


def spec_for(kind: OptimizerKind) -> OptimizerSpec:
    return SPECS[kind]


class RowOptimizer:
    """An optimizer bound to its hyperparameters and a row width ``dim``.

    Slots of one row are laid out side by side in ``slot_layout`` order:
    a (R, slot_width) float32 array holds them for R rows.
    """

    def __init__(self, config: OptimizerConfig, dim: int):
        spec = SPECS.get(config.kind)
        if spec is None:
            raise ValueError(f"optimizer {config.kind.value!r} is dense-only, not a row optimizer")
        params = config.params
        self.kind = config.kind
        self.dim = dim
        self.learning_rate = params["learning_rate"]
        self.warmup_steps = int(params["warmup_steps"])
        self.hp = np.array([params[name] for name in spec.hyperparameters], dtype=np.float64)
        self.kernel = spec.kernel
        layout = []
        init: list[float] = []
        for slot in spec.slots:
            width = dim if slot.width == "dim" else int(slot.width)
            value = params[slot.initial] if isinstance(slot.initial, str) else slot.initial
            layout.append((slot.name, width))
            init.extend([value] * width)
        self.slot_layout: tuple[tuple[str, int], ...] = tuple(layout)
        self.slot_width = len(init)
        self.slot_init = np.array(init, dtype=np.float32)

    def learning_rate_at(self, step: int) -> float:
        """Linear warmup: lr * min(step, warmup_steps) / warmup_steps when warmup_steps > 0."""
        if self.warmup_steps <= 0:
            return self.learning_rate
        return self.learning_rate * min(step, self.warmup_steps) / self.warmup_steps

    def apply(self, emb, slots, rows, grads, step: int) -> None:
        """One update of ``emb[rows[i]]`` with ``grads[i]`` (rows < 0 skipped).

        emb (R, dim) f32, slots (R, slot_width) f32, rows (k,) int64, grads (k, dim) f32.
        """
        self.kernel(emb, slots, rows, grads, self.hp, self.learning_rate_at(step))
