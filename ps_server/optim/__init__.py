"""Per-row optimizers: one numba kernel per optimizer, chosen by OptimizerKind."""

from ps_server.optim.registry import SPECS, OptimizerSpec, RowOptimizer, SlotSpec, spec_for

__all__ = ["SPECS", "OptimizerSpec", "RowOptimizer", "SlotSpec", "spec_for"]
