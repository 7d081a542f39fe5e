"""Dense-only Shampoo: the implementation lives in ``ps_server.optim.shampoo``.

Re-exported here for the worker, which passes its array module as ``xp``.
"""

from ps_server.optim.shampoo import (
    ShampooConfig,
    ShampooOptimizer,
    apply_sparse_precond,
    eigen_inverse_root,
)

__all__ = ["ShampooConfig", "ShampooOptimizer", "apply_sparse_precond", "eigen_inverse_root"]
