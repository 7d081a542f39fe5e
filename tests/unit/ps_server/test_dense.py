import threading

import numpy as np
import pytest

from ps_server.config import OptimizerConfig, OptimizerKind
from ps_server.dense import DenseStore
from services.errors import InvalidArgument, NotFound

F = np.float32


def _store(kind=OptimizerKind.SGD, **hp):
    return DenseStore(OptimizerConfig(kind, tuple(hp.items())))


def test_pull_creates_then_returns_copies():
    store = _store()
    init = np.arange(6, dtype=F).reshape(2, 3)
    got = store.pull("w", init)
    np.testing.assert_array_equal(got, init)
    init[0, 0] = 99
    got[0, 1] = 99
    np.testing.assert_array_equal(store.pull("w"), np.arange(6, dtype=F).reshape(2, 3))
    assert store.pull("w", np.zeros((2, 3), F))[1, 2] == 5  # an existing value wins
    assert store.names() == ["w"]


def test_pull_errors():
    store = _store()
    with pytest.raises(NotFound, match="'w' does not exist and no initial_value"):
        store.pull("w")
    with pytest.raises(InvalidArgument, match="'w': initial_value: expected float32, got float64"):
        store.pull("w", np.zeros(3))
    with pytest.raises(InvalidArgument, match="initial_value contains NaN or Inf"):
        store.pull("w", np.array([1, np.nan], F))
    assert store.names() == []
    store.pull("w", np.zeros(3, F))
    with pytest.raises(InvalidArgument, match="shape \\(4,\\) differs"):
        store.pull("w", np.zeros(4, F))


def test_push_sgd_and_update_count():
    store = _store(learning_rate=0.5)
    store.pull("b", np.ones(4, F))
    assert store.push("b", np.full(4, 2.0, F)) == 1
    assert store.push("b", np.full(4, 2.0, F)) == 2
    np.testing.assert_array_equal(store.pull("b"), np.full(4, -1.0, F))


def test_push_uses_table_kernels_adagrad():
    store = _store(OptimizerKind.ADAGRAD, learning_rate=0.1, initial_accumulator=0.1)
    w = np.array([[0.5, -0.5], [1.0, 2.0]], F)
    store.pull("w", w)
    g = np.array([[0.1, 0.2], [0.3, -0.4]], F)
    acc = np.full_like(w, F(0.1))
    for _ in range(3):
        store.push("w", g)
        acc = acc + g * g
        w = w - F(0.1) * g / np.sqrt(acc)
    np.testing.assert_allclose(store.pull("w"), w, rtol=1e-6)


def test_adam_bias_correction_is_per_variable():
    store = _store(OptimizerKind.ADAM, learning_rate=0.1)
    store.pull("a", np.zeros(2, F))
    store.pull("b", np.zeros(2, F))
    g = np.ones(2, F)
    store.push("a", g)
    store.push("a", g)
    store.push("b", g)
    first = F(0.1) * np.sqrt(F(1) - F(0.99)) / (F(1) - F(0.9)) * F(0.1) / (
        np.sqrt(F(0.01)) + F(0.01))
    np.testing.assert_allclose(store.pull("b"), [-first, -first], rtol=1e-6)


def test_scalar_variable():
    store = _store(learning_rate=1.0)
    assert store.pull("s", np.array(3.0, F)).shape == ()
    store.push("s", np.array(1.0, F))
    assert store.pull("s") == 2.0


@pytest.mark.parametrize("grad, error, match", [
    (np.zeros(3, F), InvalidArgument,
     "gradient shape \\(3,\\) differs from the variable's \\(2, 2\\)"),
    (np.zeros((2, 2)), InvalidArgument, "gradient: expected float32, got float64"),
    (np.array([[0, 0], [np.inf, 0]], F), InvalidArgument, "gradient contains NaN or Inf"),
])
def test_validate_push_rejects(grad, error, match):
    store = _store()
    store.pull("w", np.ones((2, 2), F))
    with pytest.raises(error, match=match):
        store.validate_push("w", grad)
    with pytest.raises(error, match=match):
        store.push("w", grad)
    np.testing.assert_array_equal(store.pull("w"), np.ones((2, 2), F))


def test_push_unknown_variable():
    with pytest.raises(NotFound, match="dense variable 'nope' does not exist"):
        _store().push("nope", np.zeros(1, F))


def test_concurrent_pushes():
    store = _store(learning_rate=1.0)
    store.pull("w", np.zeros(1000, F))
    store.pull("v", np.zeros(10, F))

    def run():
        for _ in range(200):
            store.push("w", np.ones(1000, F))
            store.push("v", np.ones(10, F))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(store.pull("w"), np.full(1000, -800, F))
    assert store.push("v", np.zeros(10, F)) == 801
