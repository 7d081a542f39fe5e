"""Optimizers through a real EmbeddingTable: golden values and NumPy trajectories."""

import numpy as np
import pytest

from ps_server.config import (
    InitializerConfig,
    InitializerKind,
    OptimizerConfig,
    OptimizerKind,
    TableConfig,
)
from ps_server.initializers import initial_rows
from ps_server.optim import SPECS, RowOptimizer
from ps_server.table import EmbeddingTable

F = np.float32


def _table(kind, dim=4, init=None, **hp):
    init = init or InitializerConfig(InitializerKind.CONSTANT, value=0.1)
    cfg = TableConfig("t", dim, OptimizerConfig(kind, tuple(hp.items())), init)
    return EmbeddingTable(cfg)


def _slot(table, view, name):
    start = 0
    for slot_name, width in table.slot_layout:
        if slot_name == name:
            return view.slots[:, start:start + width]
        start += width
    raise KeyError(name)


def _one_push(kind, **hp):
    table = _table(kind, **hp)
    ids = np.array([42], dtype=np.int64)
    table.apply_gradients(ids, np.full((1, 4), 0.12, dtype=np.float32), timestamp_s=1)
    return table, table.inspect(ids)


def test_golden_adamom():
    table, view = _one_push(OptimizerKind.ADAMOM, learning_rate=0.1, weight_decay=0.01,
                            ada_decay=0.99, mom_decay=0.9, epsilon=1e-6)
    np.testing.assert_allclose(_slot(table, view, "m"), 0.0121, rtol=1e-6)
    np.testing.assert_allclose(_slot(table, view, "v"), 0.014641, rtol=1e-6)
    np.testing.assert_allclose(_slot(table, view, "c"), 1.0, rtol=1e-6)
    np.testing.assert_allclose(view.embeddings, 0.090000336, rtol=1e-6)


def test_golden_rmsprop():
    table, view = _one_push(OptimizerKind.RMSPROP, learning_rate=0.1, weight_decay=1.0,
                            beta1=0.9, beta2=0.9, epsilon=0.1)
    np.testing.assert_allclose(_slot(table, view, "m"), 0.06794526, rtol=1e-6)
    np.testing.assert_allclose(_slot(table, view, "v"), 0.00484, rtol=1e-6)
    np.testing.assert_allclose(view.embeddings, 0.03205474, rtol=1e-6)


def test_golden_rmspropv2():
    table, view = _one_push(OptimizerKind.RMSPROPV2, learning_rate=0.1, weight_decay=1.0,
                            beta1=0.9, beta2=0.9, epsilon=0.1)
    np.testing.assert_allclose(_slot(table, view, "m"), 0.06875, rtol=1e-6)
    np.testing.assert_allclose(_slot(table, view, "v"), 0.0484, rtol=1e-6)
    np.testing.assert_allclose(view.embeddings, 0.03125, rtol=1e-6)


# -- plain NumPy reference, one function per optimizer: (w, state, g, p) -> w ----------

def _sgd(w, s, g, p):
    return w - F(p["lr"]) * (g + F(p["weight_decay"]) * w)


def _adagrad(w, s, g, p):
    g = g + F(p["weight_decay"]) * w
    s.setdefault("accum", np.full_like(w, F(p["initial_accumulator"])))
    s["accum"] = s["accum"] + g * g
    return w - F(p["lr"]) * g / np.sqrt(s["accum"])


def _momentum(w, s, g, p):
    g = g + F(p["weight_decay"]) * w
    mu = F(p["momentum"])
    prev = s.setdefault("n", np.zeros_like(w))
    s["n"] = mu * prev - F(p["lr"]) * g
    if p["use_nesterov"]:
        return w + (-mu * prev + (F(1) + mu) * s["n"])
    return w + s["n"]


def _adam(w, s, g, p, amsgrad=False):
    g = g + F(p["weight_decay"]) * w
    b1, b2, eps = F(p["beta1"]), F(p["beta2"]), F(p["epsilon"])
    m = s.setdefault("m", np.zeros_like(w))
    v = s.setdefault("v", np.zeros_like(w))
    b1p = s.setdefault("b1p", b1)
    b2p = s.setdefault("b2p", b2)
    lr = F(p["lr"]) * np.sqrt(F(1) - b2p) / (F(1) - b1p)
    s["m"] = m = b1 * m + (F(1) - b1) * g
    s["v"] = v = b2 * v + (F(1) - b2) * g * g
    if amsgrad:
        s["vhat"] = v = np.maximum(s.get("vhat", np.zeros_like(w)), v)
    s["b1p"], s["b2p"] = b1p * b1, b2p * b2
    return w - lr * m / (np.sqrt(v) + eps)


def _amsgrad(w, s, g, p):
    return _adam(w, s, g, p, amsgrad=True)


def _adadelta(w, s, g, p):
    g = g + F(p["weight_decay"]) * w
    rho, eps = F(p["rho"]), F(p["epsilon"])
    acc = rho * s.get("acc", np.zeros_like(w)) + (F(1) - rho) * g * g
    upd = s.get("upd", np.zeros_like(w))
    u = np.sqrt(upd + eps) / np.sqrt(acc + eps) * g
    s["acc"], s["upd"] = acc, rho * upd + (F(1) - rho) * u * u
    return w - F(p["lr"]) * u


def _ftrl(w, s, g, p):
    g = g + F(p["weight_decay"]) * w
    lr, l1, l2, beta = F(p["lr"]), F(p["l1"]), F(p["l2"]), F(p["beta"])
    n = s.get("n", np.full_like(w, F(p["initial_accumulator"])))
    n_new = n + g * g
    sigma = (np.sqrt(n_new) - np.sqrt(n)) / lr
    z = s.get("z", np.zeros_like(w)) + g - sigma * w
    s["n"], s["z"] = n_new, z
    out = -(z - np.sign(z) * l1) / ((beta + np.sqrt(n_new)) / lr + l2)
    return np.where(np.abs(z) <= l1, F(0), out).astype(F)


def _rmsprop(w, s, g, p, v2=False):
    g = g + F(p["weight_decay"]) * w
    b1, b2, eps, lr = F(p["beta1"]), F(p["beta2"]), F(p["epsilon"]), F(p["lr"])
    if v2:
        v = b2 * s.get("v", np.zeros_like(w)) + g * g
        m = b1 * s.get("m", np.zeros_like(w)) + lr * g / (np.sqrt(v) + eps)
    else:
        v = b2 * s.get("v", np.zeros_like(w)) + (F(1) - b2) * g * g
        m = b1 * s.get("m", np.zeros_like(w)) + lr * g / np.sqrt(v + eps)
    s["m"], s["v"] = m, v
    return w - m


def _rmspropv2(w, s, g, p):
    return _rmsprop(w, s, g, p, v2=True)


def _adamom(w, s, g, p):
    g = g + F(p["weight_decay"]) * w
    ada, mom, eps = F(p["ada_decay"]), F(p["mom_decay"]), F(p["epsilon"])
    m = mom * s.get("m", np.zeros_like(w)) + (F(1) - mom) * g
    v = ada * s.get("v", np.zeros_like(w)) + g * g
    c = ada * s.get("c", np.zeros_like(w)) + F(1)
    s["m"], s["v"], s["c"] = m, v, c
    return w - F(p["lr"]) * m / np.sqrt(v / c + eps)


CASES = [
    (OptimizerKind.SGD, _sgd, {"learning_rate": 0.05, "weight_decay": 0.01}),
    (OptimizerKind.ADAGRAD, _adagrad, {"learning_rate": 0.1, "initial_accumulator": 0.5,
                                       "weight_decay": 0.02}),
    (OptimizerKind.MOMENTUM, _momentum, {"learning_rate": 0.03, "momentum": 0.8}),
    (OptimizerKind.MOMENTUM, _momentum, {"learning_rate": 0.03, "momentum": 0.8,
                                         "use_nesterov": 1, "weight_decay": 0.1}),
    (OptimizerKind.ADAM, _adam, {"learning_rate": 0.02, "beta1": 0.8, "beta2": 0.95,
                                 "epsilon": 1e-3, "weight_decay": 0.01}),
    (OptimizerKind.AMSGRAD, _amsgrad, {"learning_rate": 0.02, "beta1": 0.7, "beta2": 0.9}),
    (OptimizerKind.ADADELTA, _adadelta, {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-3}),
    (OptimizerKind.FTRL, _ftrl, {"learning_rate": 0.1, "l1": 0.01, "l2": 0.1, "beta": 0.5}),
    (OptimizerKind.FTRL, _ftrl, {"learning_rate": 0.1, "initial_accumulator": 0.3}),
    (OptimizerKind.RMSPROP, _rmsprop, {"learning_rate": 0.01, "beta1": 0.5, "beta2": 0.8,
                                       "epsilon": 0.01, "weight_decay": 0.1}),
    (OptimizerKind.RMSPROPV2, _rmspropv2, {"learning_rate": 0.01, "beta1": 0.5, "beta2": 0.8,
                                           "epsilon": 0.01}),
    (OptimizerKind.ADAMOM, _adamom, {"learning_rate": 0.05, "ada_decay": 0.95,
                                     "mom_decay": 0.8, "epsilon": 1e-4, "weight_decay": 0.05}),
]


def test_every_optimizer_has_a_trajectory_case():
    row_kinds = {kind for kind in OptimizerKind if not kind.dense_only}
    assert {kind for kind, _, _ in CASES} == row_kinds == set(SPECS)


@pytest.mark.parametrize("kind, reference, hp", CASES,
                         ids=[f"{k.value}-{i}" for i, (k, _, _) in enumerate(CASES)])
def test_trajectory_matches_numpy(kind, reference, hp):
    dim, universe = 5, np.arange(-6, 6, dtype=np.int64) * 1_000_003
    init = InitializerConfig(InitializerKind.RANDOM_UNIFORM, minval=-0.5, maxval=0.5, seed=11)
    table = _table(kind, dim=dim, init=init, **hp)
    params = {**OptimizerConfig(kind, tuple(hp.items())).params}
    params["lr"] = params["learning_rate"]
    rng = np.random.default_rng(7)
    weights, states = {}, {}
    for step in range(20):
        ids = rng.choice(universe, size=9, replace=True)
        grads = rng.normal(0, 0.3, size=(9, dim)).astype(F)
        table.apply_gradients(ids, grads, timestamp_s=step + 1)
        for key in np.unique(ids):
            if key not in weights:
                weights[key] = initial_rows(init, np.array([key]), dim)[0]
                states[key] = {}
            g = grads[ids == key].sum(axis=0, dtype=F)
            weights[key] = reference(weights[key], states[key], g, params).astype(F)
    keys = np.array(sorted(weights), dtype=np.int64)
    got = table.lookup(keys)
    want = np.stack([weights[k] for k in keys])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_warmup_scales_learning_rate():
    table = _table(OptimizerKind.SGD, dim=1, init=InitializerConfig(InitializerKind.ZEROS),
                   learning_rate=1.0, warmup_steps=4)
    ids = np.array([3], dtype=np.int64)
    ones = np.ones((1, 1), dtype=F)
    moves = []
    for _ in range(6):
        before = table.inspect(ids).embeddings[0, 0] if table.size else 0.0
        table.apply_gradients(ids, ones, timestamp_s=1)
        moves.append(before - table.lookup(ids)[0, 0])
    np.testing.assert_allclose(moves, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0], rtol=1e-6)
    # an explicit global step overrides the table's own push count
    table.apply_gradients(ids, ones, timestamp_s=1, global_step=1)
    before = table.lookup(ids)[0, 0]
    table.apply_gradients(ids, ones, timestamp_s=1, global_step=2)
    np.testing.assert_allclose(before - table.lookup(ids)[0, 0], 0.5, rtol=1e-6)


def test_filtered_push_does_not_advance_warmup():
    cfg = TableConfig("t", 1, OptimizerConfig(OptimizerKind.SGD, (("learning_rate", 1.0),
                                                                   ("warmup_steps", 2))),
                      InitializerConfig(InitializerKind.ZEROS), occurrence_threshold=1)
    table = EmbeddingTable(cfg)
    ids = np.array([3], dtype=np.int64)
    assert table.apply_gradients(ids, np.ones((1, 1), F)).filtered == 1
    table.apply_gradients(ids, np.ones((1, 1), F))
    np.testing.assert_allclose(table.lookup(ids), [[-0.5]])


def test_weight_decay_applies_to_gradient():
    table = _table(OptimizerKind.ADAGRAD, dim=2, learning_rate=0.1, weight_decay=0.5,
                   initial_accumulator=0.1)
    ids = np.array([1], dtype=np.int64)
    table.apply_gradients(ids, np.array([[0.2, -0.2]], F), timestamp_s=1)
    g = np.array([0.2, -0.2], F) + F(0.5) * F(0.1)
    want = F(0.1) - F(0.1) * g / np.sqrt(F(0.1) + g * g)
    np.testing.assert_allclose(table.lookup(ids)[0], want, rtol=1e-6)
    np.testing.assert_allclose(table.inspect(ids).slots[0], F(0.1) + g * g, rtol=1e-6)


def test_slot_layouts():
    adam = RowOptimizer(OptimizerConfig(OptimizerKind.ADAM, (("beta1", 0.8),)), 3)
    assert adam.slot_layout == (("m", 3), ("v", 3), ("beta1_power", 1), ("beta2_power", 1))
    np.testing.assert_allclose(adam.slot_init, [0] * 6 + [0.8, 0.99])
    ftrl = RowOptimizer(OptimizerConfig(OptimizerKind.FTRL), 2)
    np.testing.assert_allclose(ftrl.slot_init, [0.1, 0.1, 0, 0])
    assert RowOptimizer(OptimizerConfig(OptimizerKind.SGD), 4).slot_width == 0
