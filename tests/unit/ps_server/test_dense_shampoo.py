"""Shampoo as the PS's dense optimizer: DenseStore against ShampooOptimizer run directly,
and Shampoo rejected wherever an embedding table would use it."""

import dataclasses

import numpy as np
import pytest

from ps_server.config import (
    OPTIMIZER_DEFAULTS,
    InitializerConfig,
    InitializerKind,
    OptimizerConfig,
    OptimizerKind,
    TableConfig,
    TablesConfig,
)
from ps_server.dense import DenseStore
from ps_server.optim import RowOptimizer
from ps_server.optim.shampoo import ShampooConfig, ShampooOptimizer

F = np.float32
# warmup 4, tau_1 3, tau_2 2: 12 steps cross the statistics refresh, the end of
# warmup, several preconditioner refreshes and the full warmup-rate ramp
HP = {"learning_rate": 0.1, "warmup": 4, "tau_1": 3, "tau_2": 2, "eigen_head": 1,
      "eigen_tail": 1, "beta_1": 0.8}
SHAPES = {"w": (4, 3), "b": (5,), "k": (2, 3, 2)}


def test_defaults_are_shampoo_configs():
    defaults = {f.name: f.default for f in dataclasses.fields(ShampooConfig)}
    assert OPTIMIZER_DEFAULTS[OptimizerKind.SHAMPOO] == defaults
    assert ShampooConfig.from_params(OptimizerConfig(OptimizerKind.SHAMPOO).params) == ShampooConfig()
    cfg = ShampooConfig.from_params(OptimizerConfig.from_dict({"type": "shampoo", **HP}).params)
    assert cfg.warmup == 4 and isinstance(cfg.tau_1, int) and cfg.learning_rate == 0.1


def test_dense_store_matches_shampoo_applied_directly():
    rng = np.random.default_rng(3)
    store = DenseStore(OptimizerConfig.from_dict({"type": "shampoo", **HP}))
    ref = ShampooOptimizer(ShampooConfig(**HP))
    params = {n: rng.standard_normal(s).astype(F) for n, s in SHAPES.items()}
    initial = {n: v.copy() for n, v in params.items()}
    for name, value in params.items():
        store.pull(name, value)
    for step in range(12):
        grads = {n: rng.standard_normal(s).astype(F) for n, s in SHAPES.items()}
        ref.apply(params, grads, step)
        for name, grad in grads.items():
            assert store.push(name, grad) == step + 1
    for name, value in params.items():
        got = store.pull(name)
        assert got.shape == value.shape and got.dtype == F
        np.testing.assert_allclose(got, value, rtol=1e-6, atol=1e-7)
        assert store.update_count(name) == 12
        assert not np.allclose(got, initial[name])


def test_each_variable_steps_at_its_own_count():
    rng = np.random.default_rng(5)
    store = DenseStore(OptimizerConfig.from_dict({"type": "shampoo", **HP}))
    a, b = rng.standard_normal((3, 2)).astype(F), rng.standard_normal((3, 2)).astype(F)
    store.pull("a", a)
    ref_a = ShampooOptimizer(ShampooConfig(**HP))
    for step in range(7):  # "a" passes warmup before "b" exists
        g = rng.standard_normal((3, 2)).astype(F)
        store.push("a", g)
        ref_a.apply({"a": a}, {"a": g}, step)
    store.pull("b", b)
    ref_b = ShampooOptimizer(ShampooConfig(**HP))
    g = rng.standard_normal((3, 2)).astype(F)
    store.push("b", g)
    ref_b.apply({"b": b}, {"b": g}, 0)
    np.testing.assert_allclose(store.pull("a"), a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(store.pull("b"), b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("hp, match", [
    ({"tau_1": 0}, "optimizer.tau_1: got 0.0"),
    ({"warmup": 1.5}, "optimizer.warmup: got 1.5, must be a whole number"),
    ({"beta_2": 0.0}, "optimizer.beta_2: got 0.0"),
    ({"weight_decay": 0.1}, "not a hyperparameter of shampoo"),
])
def test_shampoo_hyperparameters_are_validated(hp, match):
    with pytest.raises(ValueError, match=match):
        OptimizerConfig.from_dict({"type": "shampoo", **hp})


def test_a_table_rejects_shampoo():
    shampoo = {"type": "shampoo", "learning_rate": 0.1}
    table = {"name": "user_id", "dim": 4, "optimizer": shampoo, "initializer": {"type": "zeros"}}
    with pytest.raises(ValueError, match="table user_id: optimizer: 'shampoo' is dense-only"):
        TablesConfig.from_dict({"tables": [table]})
    with pytest.raises(ValueError, match="table t: .*dense-only"):
        TableConfig("t", 4, OptimizerConfig(OptimizerKind.SHAMPOO),
                    InitializerConfig(InitializerKind.ZEROS))
    with pytest.raises(ValueError, match="dense-only, not a row optimizer"):
        RowOptimizer(OptimizerConfig(OptimizerKind.SHAMPOO), 4)
    table["optimizer"] = {"type": "sgd"}
    tables = TablesConfig.from_dict({"tables": [table], "dense_optimizer": shampoo})
    assert tables.dense_optimizer.kind is OptimizerKind.SHAMPOO
    assert TablesConfig.from_dict(tables.to_dict()) == tables
