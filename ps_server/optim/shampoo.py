"""Dense-only Shampoo (Monolith's ``optimizers/shampoo.py``) over ``xp``.

Per parameter of rank r and each axis i: ``g_i`` = contraction of the gradient with
itself over every other axis (refreshed every ``tau_2`` steps), ``s_i += g_i`` every
step (or an EMA when ``beta_2 < 1``), and after ``warmup`` every ``tau_1`` steps a
preconditioner from ``eigen_inverse_root(s_i, 2r)``. The step blends an AdaGrad-style
update with the preconditioned one (rescaled to the AdaGrad norm) as the warmup rate
ramps from 0 to 1 over steps ``warmup..2 warmup``.

NumPy by default (the PS's dense variables); pass ``xp`` (e.g. CuPy) to run it elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ShampooConfig:
    """Hyperparameters, with Monolith's defaults."""

    learning_rate: float = 0.03
    beta_1: float = 0.9
    beta_2: float = 1.0
    warmup: int = 5000
    tau_1: int = 200
    tau_2: int = 20
    eigen_head: int = 100
    eigen_tail: int = 100
    damping_epsilon: float = 1e-3

    def __post_init__(self) -> None:
        checks = [
            ("learning_rate", self.learning_rate > 0 and math.isfinite(self.learning_rate),
             "a finite number > 0"),
            ("beta_1", 0 <= self.beta_1 < 1, "in [0, 1)"),
            ("beta_2", 0 < self.beta_2 <= 1, "in (0, 1]"),
            ("warmup", self.warmup >= 0, ">= 0"),
            ("tau_1", self.tau_1 >= 1, ">= 1"),
            ("tau_2", self.tau_2 >= 1, ">= 1"),
            ("eigen_head", self.eigen_head >= 0, ">= 0"),
            ("eigen_tail", self.eigen_tail >= 0, ">= 0"),
            ("damping_epsilon", self.damping_epsilon > 0, "> 0"),
        ]
        for field, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{field} must be {allowed}, got {getattr(self, field)!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, float]) -> ShampooConfig:
        """From float hyperparameters (an OptimizerConfig's ``params``); integer fields
        are converted, unknown names raise TypeError."""
        types = {f.name: f.type for f in fields(cls)}
        return cls(**{name: int(value) if types[name] in (int, "int") else float(value)
                      for name, value in params.items()})


def eigen_inverse_root(xp: ModuleType, mat: Any, p: float, head: int, tail: int,
                       damping: float = 1e-3) -> tuple[Any, Any, float]:
    """Low-rank ``mat^(-1/p)`` from ``head`` + ``tail`` eigenpairs. mat: (d, d) symmetric.

    Eigenvalues ascend; those <= ``damping`` count as zeros and are skipped, the
    ``head`` smallest non-zero and the ``tail`` largest are kept, each raised to
    ``-1/p`` after flooring at ``damping``. The rest are represented by ``offset``:
    the mean of the skipped middle eigenvalues, taken raw (not raised to ``-1/p``) as
    in Monolith, and 0 when nothing is skipped. Returns ``(pvec (d, e), pval (e,) -
    offset, offset)``, e = min(d, head + tail); the preconditioner is
    ``pvec diag(pval) pvec^T + offset I``.
    """
    dim = mat.shape[0]
    evals, evecs = xp.linalg.eigh(mat)
    non_zero = xp.nonzero(evals > damping)[0]
    zeros = int(non_zero[0]) if non_zero.shape[0] else 0
    evals_p = xp.maximum(evals, damping) ** (-1.0 / p)
    if head + tail > dim:
        zeros, head, tail = 0, dim, 0
    elif zeros + head + tail > dim:
        zeros = dim - head - tail
    pval = xp.concatenate([evals_p[zeros:zeros + head], evals_p[dim - tail:]])
    pvec = xp.concatenate([evecs[:, zeros:zeros + head], evecs[:, dim - tail:]], axis=1)
    offset = 0.0 if zeros + head + tail == dim else float(evals[zeros + head:dim - tail].mean())
    return pvec, (pval - offset).astype(mat.dtype), offset


def apply_sparse_precond(xp: ModuleType, tensor: Any, pvec: Any, pval: Any, offset: float) -> Any:
    """Precondition axis 0 of ``tensor`` and rotate it to the end.

    tensor: (d0, d1, ...) -> (d1, ..., d0) equal to ``(P tensor)`` with axis 0 moved
    last, ``P = pvec diag(pval) pvec^T + offset I``. Applying it once per axis returns
    the axes to their order with every axis preconditioned.
    """
    projected = xp.tensordot(tensor, pvec, axes=([0], [0])) * pval
    back = xp.tensordot(projected, pvec, axes=([-1], [-1]))
    return back + xp.moveaxis(tensor, 0, -1) * offset


class ShampooOptimizer:
    """Updates named dense parameters in place; keeps Monolith's slots per parameter.

    Slots of parameter ``name`` (``slots(name)``): per axis i ``s<i>``, ``g<i>`` (d_i, d_i),
    ``pvec<i>`` (d_i, e_i), ``pval<i>`` (e_i,), ``o<i>`` (scalar), and ``d``, ``m``, ``pm``
    shaped like the parameter; all zeros at creation.
    """

    def __init__(self, config: ShampooConfig = ShampooConfig(), xp: ModuleType | None = None):
        self.config = config
        self.xp = np if xp is None else xp
        self._slots: dict[str, dict[str, Any]] = {}

    def slots(self, name: str) -> dict[str, Any]:
        return self._slots[name]

    def _create_slots(self, param: Any) -> dict[str, Any]:
        xp, cfg = self.xp, self.config
        slots: dict[str, Any] = {}
        for i, dim in enumerate(param.shape):
            eigens = min(dim, cfg.eigen_head + cfg.eigen_tail)
            slots[f"s{i}"] = xp.zeros((dim, dim), dtype=param.dtype)
            slots[f"g{i}"] = xp.zeros((dim, dim), dtype=param.dtype)
            slots[f"pvec{i}"] = xp.zeros((dim, eigens), dtype=param.dtype)
            slots[f"pval{i}"] = xp.zeros((eigens,), dtype=param.dtype)
            slots[f"o{i}"] = 0.0
        for key in ("d", "m", "pm"):
            slots[key] = xp.zeros_like(param)
        return slots

    def apply(self, params: Mapping[str, Any], grads: Mapping[str, Any], global_step: int) -> None:
        """One step at ``global_step`` (the step count before this update, from 0)."""
        for name, grad in grads.items():
            param = params[name]
            if tuple(grad.shape) != tuple(param.shape):
                raise ValueError(f"gradient of {name!r} has shape {tuple(grad.shape)}, "
                                 f"parameter has {tuple(param.shape)}")
            if name not in self._slots:
                self._slots[name] = self._create_slots(param)
            self._apply_one(param, grad, self._slots[name], global_step)

    def _apply_one(self, var: Any, grad: Any, slots: dict[str, Any], step: int) -> None:
        xp, cfg = self.xp, self.config
        update_stat = step % cfg.tau_2 == 0
        warmed_up = step > cfg.warmup
        update_precond = warmed_up and step % cfg.tau_1 == 0
        warmup_rate = (1.0 if cfg.warmup == 0 else
                       min(max(step / cfg.warmup - 1.0, 0.0), 1.0))
        rank = grad.ndim
        grad_precond = grad
        for i in range(rank):
            if update_stat:
                others = [a for a in range(rank) if a != i]
                slots[f"g{i}"][...] = xp.tensordot(grad, grad, axes=(others, others))
            s = slots[f"s{i}"]
            if cfg.beta_2 < 1.0 - 1e-10:
                s *= cfg.beta_2
                s += (1 - cfg.beta_2) * slots[f"g{i}"]
            else:
                s += slots[f"g{i}"]
            if update_precond:
                pvec, pval, offset = eigen_inverse_root(
                    xp, s, 2 * rank, cfg.eigen_head, cfg.eigen_tail, cfg.damping_epsilon)
                slots[f"pvec{i}"][...] = pvec
                slots[f"pval{i}"][...] = pval
                slots[f"o{i}"] = offset
            grad_precond = apply_sparse_precond(xp, grad_precond, slots[f"pvec{i}"],
                                                slots[f"pval{i}"], slots[f"o{i}"])
        d, m, pm = slots["d"], slots["m"], slots["pm"]
        d += grad * grad
        m *= cfg.beta_1
        m += (1 - cfg.beta_1) * grad / xp.sqrt(d + 1e-30)
        pm *= cfg.beta_1
        pm += (1 - cfg.beta_1) * grad_precond
        update_diag = cfg.learning_rate * m
        if warmed_up:
            update_second = (cfg.learning_rate * xp.linalg.norm(m)
                             / (xp.linalg.norm(pm) + 1e-10) * pm)
            var -= (1 - warmup_rate) * update_diag + warmup_rate * update_second
        else:
            var -= update_diag
