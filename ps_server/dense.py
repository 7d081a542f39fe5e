"""DenseStore: named dense float32 variables of this PS, with their optimizer state.

A variable is one row (1, size) for the same optimizer kernels the embedding
tables use, so dense and sparse updates follow one set of formulas. Warmup
counts the variable's own updates. Shampoo (dense-only) instead keeps one
ShampooOptimizer per variable over the variable in its own shape, stepped at the
variable's update count.
"""

from __future__ import annotations

import threading

import numpy as np

from ps_server.config import OptimizerConfig, OptimizerKind
from ps_server.optim import RowOptimizer
from ps_server.optim.shampoo import ShampooConfig, ShampooOptimizer
from ps_server.table_kernels import all_finite
from services.errors import InvalidArgument, NotFound

_ROW = np.zeros(1, dtype=np.int64)


class _Variable:
    def __init__(self, value: np.ndarray, optimizer: OptimizerConfig):
        self.shape = value.shape
        self.size = int(value.size)
        self.row = np.array(value, dtype=np.float32, copy=True).reshape(1, self.size)
        self.shampoo: ShampooOptimizer | None = None
        self.optimizer: RowOptimizer | None = None
        if optimizer.kind is OptimizerKind.SHAMPOO:
            self.shampoo = ShampooOptimizer(ShampooConfig.from_params(optimizer.params))
        else:
            self.optimizer = RowOptimizer(optimizer, self.size)
            self.slots = self.optimizer.slot_init.reshape(1, -1).copy()
        self.updates = 0
        self.lock = threading.Lock()

    def apply(self, grad: np.ndarray) -> int:
        """One step with ``grad`` (the variable's shape); the caller holds ``lock``."""
        if self.shampoo is not None:
            value = self.row.reshape(self.shape)  # a view: updated in place
            self.shampoo.apply({"value": value}, {"value": grad}, self.updates)
            self.updates += 1
        else:
            self.updates += 1
            self.optimizer.apply(self.row, self.slots, _ROW, grad.reshape(1, self.size),
                                 self.updates)
        return self.updates

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the value and every optimizer slot, by name (the caller holds ``lock``)."""
        arrays = {"value": self.row.reshape(self.shape).copy()}
        if self.shampoo is not None:
            for key, slot in self.shampoo._slots.get("value", {}).items():
                arrays[f"shampoo.{key}"] = np.array(slot, dtype=np.float32)
        else:
            arrays["slots"] = self.slots.copy()
        return arrays

    def set_state(self, arrays: dict[str, np.ndarray], updates: int) -> None:
        """Replaces value, slots and update count with a checkpoint's (caller holds ``lock``)."""
        self.row[...] = arrays["value"].reshape(1, self.size)
        if self.shampoo is not None:
            slots = {k.removeprefix("shampoo."): np.array(v, dtype=np.float32)
                     for k, v in arrays.items() if k.startswith("shampoo.")}
            for key in [k for k in slots if k.startswith("o") and slots[k].ndim == 0]:
                slots[key] = float(slots[key])
            if slots:
                self.shampoo._slots["value"] = slots
        else:
            if arrays["slots"].shape != self.slots.shape:
                raise ValueError(f"slots of shape {arrays['slots'].shape}, the optimizer "
                                 f"keeps {self.slots.shape}")
            self.slots[...] = arrays["slots"]
        self.updates = int(updates)


class DenseStore:
    """Dense variables by name; thread-safe (one lock per variable, one for the registry)."""

    def __init__(self, optimizer: OptimizerConfig):
        self.optimizer = optimizer
        self._vars: dict[str, _Variable] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._vars)

    def _get(self, name: str) -> _Variable:
        var = self._vars.get(name)
        if var is None:
            raise NotFound(f"dense variable {name!r} does not exist on this PS")
        return var

    def pull(self, name: str, initial_value: np.ndarray | None = None) -> np.ndarray:
        """A copy of the variable in its original shape. On first use it is created
        from ``initial_value`` (finite float32); without one, NotFound."""
        with self._lock:
            var = self._vars.get(name)
            if var is None:
                if initial_value is None:
                    raise NotFound(
                        f"dense variable {name!r} does not exist and no initial_value was given"
                    )
                self._check_initial(name, initial_value)
                var = self._vars[name] = _Variable(initial_value, self.optimizer)
            elif initial_value is not None and np.shape(initial_value) != var.shape:
                raise InvalidArgument(
                    f"dense variable {name!r}: initial_value shape {np.shape(initial_value)} "
                    f"differs from the variable's {var.shape}"
                )
        with var.lock:
            return var.row.reshape(var.shape).copy()

    @staticmethod
    def _check_initial(name: str, value) -> None:
        if not isinstance(value, np.ndarray) or value.dtype != np.float32:
            got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise InvalidArgument(f"dense variable {name!r}: initial_value: expected float32, "
                                  f"got {got}")
        if not all_finite(value):
            raise InvalidArgument(f"dense variable {name!r}: initial_value contains NaN or Inf")

    def snapshot(self) -> list[tuple[str, int, dict[str, np.ndarray]]]:
        """(name, update count, copies of value and optimizer slots) of every variable."""
        with self._lock:
            variables = sorted(self._vars.items())
        out = []
        for name, var in variables:
            with var.lock:
                out.append((name, var.updates, var.state()))
        return out

    def load(self, name: str, updates: int, arrays: dict[str, np.ndarray]) -> None:
        """Creates or overwrites ``name`` from a checkpoint's arrays (see ``snapshot``)."""
        value = np.ascontiguousarray(arrays["value"], dtype=np.float32)
        with self._lock:
            var = self._vars.get(name)
            if var is None or var.shape != value.shape:
                var = self._vars[name] = _Variable(value, self.optimizer)
        with var.lock:
            var.set_state(arrays, updates)

    def update_count(self, name: str) -> int:
        """How many updates were applied to the variable (NotFound if absent)."""
        with self._lock:
            var = self._get(name)
        with var.lock:
            return var.updates

    def validate_push(self, name: str, grad: np.ndarray) -> None:
        """NotFound for an unknown variable; InvalidArgument unless ``grad`` is a finite
        float32 array of the variable's shape. Changes nothing."""
        with self._lock:
            var = self._get(name)
        if not isinstance(grad, np.ndarray) or grad.dtype != np.float32:
            got = grad.dtype if isinstance(grad, np.ndarray) else type(grad).__name__
            raise InvalidArgument(f"dense variable {name!r}: gradient: expected float32, got {got}")
        if grad.shape != var.shape:
            raise InvalidArgument(
                f"dense variable {name!r}: gradient shape {grad.shape} differs from the "
                f"variable's {var.shape}"
            )
        if not all_finite(grad):
            raise InvalidArgument(f"dense variable {name!r}: gradient contains NaN or Inf")

    def push(self, name: str, grad: np.ndarray) -> int:
        """Applies one optimizer step; returns the variable's update count."""
        self.validate_push(name, grad)
        with self._lock:
            var = self._get(name)
        with var.lock:
            return var.apply(grad)
