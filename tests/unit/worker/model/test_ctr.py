"""CTR model: finite-difference gradient checks per pooling kind, pooling values, contracts."""

import numpy as np
import pytest

from worker.data import Batch, Ragged
from worker.model import CTRModel, ModelConfig, Pooling, SlotSpec, dedup_slots
from worker.model.mlp import init_params, mlp_param_shapes

POOLINGS = {
    "sum": SlotSpec("a", 3, Pooling.SUM),
    "mean": SlotSpec("a", 3, Pooling.MEAN),
    "first_n": SlotSpec("a", 3, Pooling.FIRST_N, 2),
}


def _float64_setup(model, batch, seed=1):
    rng = np.random.default_rng(seed)
    lookups = dedup_slots(batch, model.slots)
    params = {k: (rng.standard_normal(v.shape) * 0.1 if k.endswith("/bias")
                  else v.astype(np.float64)) for k, v in model.init_params(0).items()}
    rows = {s.name: rng.standard_normal((lookups[s.name].ids.shape[0], s.dim))
            for s in model.slots}
    return lookups, rows, params


def _numeric_grad(array, loss, eps=1e-6):
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        old = array[i]
        array[i] = old + eps
        up = loss()
        array[i] = old - eps
        down = loss()
        array[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("interaction", [False, True])
@pytest.mark.parametrize("kind", sorted(POOLINGS))
def test_gradients_match_finite_differences(kind, interaction, small_batch):
    spec = POOLINGS[kind]
    if interaction:  # dot products need one pooled width for every slot
        spec = SlotSpec("a", 2, spec.pooling, spec.first_n)
    other = SlotSpec("b", 2 * spec.first_n if spec.first_n else 2)
    slots = (spec, SlotSpec("c", 2, spec.pooling, spec.first_n), other)
    model = CTRModel(ModelConfig(slots, num_dense=2, hidden_units=(5, 4),
                                 interaction=interaction))
    lookups, rows, params = _float64_setup(model, small_batch)
    result = model.forward_backward(small_batch, lookups, rows, params)
    assert np.isfinite(result.loss)

    def loss():
        return model.forward_backward(small_batch, lookups, rows, params).loss

    for name, array in rows.items():
        np.testing.assert_allclose(result.row_grads[name], _numeric_grad(array, loss),
                                   rtol=1e-5, atol=1e-8, err_msg=name)
    for name, array in params.items():
        np.testing.assert_allclose(result.param_grads[name], _numeric_grad(array, loss),
                                   rtol=1e-5, atol=1e-8, err_msg=name)


def test_pooling_values(small_batch):
    slots = (SlotSpec("a", 2, Pooling.SUM), SlotSpec("b", 2, Pooling.MEAN),
             SlotSpec("c", 2, Pooling.FIRST_N, 2))
    model = CTRModel(ModelConfig(slots, num_dense=2, hidden_units=()))
    lookups = dedup_slots(small_batch, slots)
    rows = {s.name: (lookups[s.name].ids[:, None] * np.array([1.0, 100.0])).astype(np.float32)
            for s in slots}
    params = model.init_params(0)
    width = model.config.input_width
    assert width == 2 + 2 + 4 + 2
    params["mlp/logit/kernel"] = np.eye(width, 1, k=0, dtype=np.float32)
    np.testing.assert_allclose(model.predict(small_batch, lookups, rows, params),
                               [4, 0, 3, 4, 13, 7])
    for col, expected in [(4, [20, 21, 0, 23, 22, 24]), (6, [21, 0, 0, 20, 22, 25]),
                          (2, [10, 11, 10, 12, 11, 10])]:
        params["mlp/logit/kernel"] = np.eye(width, 1, k=-col, dtype=np.float32)
        np.testing.assert_allclose(model.predict(small_batch, lookups, rows, params), expected)


def test_mean_of_duplicates_and_float32_outputs(small_batch):
    slots = (SlotSpec("a", 4, Pooling.MEAN),)
    model = CTRModel(ModelConfig(slots, num_dense=2))
    lookups = dedup_slots(small_batch, slots)
    rows = {"a": np.ones((lookups["a"].ids.shape[0], 4), np.float32)}
    result = model.forward_backward(small_batch, lookups, rows, model.init_params(3))
    assert result.logits.dtype == np.float32 and result.logits.shape == (6,)
    assert result.row_grads["a"].dtype == np.float32
    assert result.row_grads["a"].shape == (lookups["a"].ids.shape[0], 4)
    assert all(g.dtype == np.float32 for g in result.param_grads.values())


def test_dedup_maps_values_to_unique_positions(small_batch):
    lookups = dedup_slots(small_batch, (SlotSpec("a", 2),))
    lk = lookups["a"]
    assert lk.ids.tolist() == [1, 2, 3, 5, 4, 7]
    np.testing.assert_array_equal(lk.ids[lk.inverse], small_batch.sparse["a"].values)
    assert lk.value_rowids.tolist() == [0, 0, 0, 2, 3, 3, 4, 4, 4, 4, 5]
    with pytest.raises(ValueError, match="batch has no feature 'zz'"):
        dedup_slots(small_batch, (SlotSpec("zz", 2),))


def test_param_names_shapes_and_seeded_init():
    shapes = mlp_param_shapes(10, (4, 3))
    assert shapes == {"mlp/hidden_0/kernel": (10, 4), "mlp/hidden_0/bias": (4,),
                      "mlp/hidden_1/kernel": (4, 3), "mlp/hidden_1/bias": (3,),
                      "mlp/logit/kernel": (3, 1), "mlp/logit/bias": (1,)}
    a, b, c = init_params(shapes, 5), init_params(shapes, 5), init_params(shapes, 6)
    for name in shapes:
        assert a[name].dtype == np.float32 and a[name].shape == shapes[name]
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["mlp/hidden_0/kernel"], c["mlp/hidden_0/kernel"])
    assert (a["mlp/hidden_0/bias"] == 0).all()
    alone = init_params({"mlp/hidden_1/kernel": (4, 3)}, 5)
    np.testing.assert_array_equal(alone["mlp/hidden_1/kernel"], a["mlp/hidden_1/kernel"])


def test_contract_violations_are_named(small_batch):
    slots = (SlotSpec("a", 2),)
    model = CTRModel(ModelConfig(slots, num_dense=2, hidden_units=(3,)))
    lookups = dedup_slots(small_batch, slots)
    params = model.init_params(0)
    with pytest.raises(ValueError, match=r"rows of slot 'a' must have shape \(6, 2\)"):
        model.forward_backward(small_batch, lookups, {"a": np.zeros((5, 2), np.float32)}, params)
    rows = {"a": np.zeros((6, 2), np.float32)}
    with pytest.raises(ValueError, match="dense parameters missing"):
        model.forward_backward(small_batch, lookups, rows, {})
    other = CTRModel(ModelConfig(slots, num_dense=3, hidden_units=(3,)))
    with pytest.raises(ValueError, match="batch has 2 dense features, model expects 3"):
        other.forward_backward(small_batch, lookups, rows, other.init_params(0))


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "s", "dim": 0}, "dim of slot 's' must be >= 1"),
    ({"name": "s", "dim": 2, "pooling": Pooling.FIRST_N}, "first_n of slot 's' must be >= 1"),
    ({"name": "s", "dim": 2, "first_n": 2}, "first_n of slot 's' must be 0"),
    ({"name": "s", "dim": 2, "pooling": "sum"}, "pooling of slot 's' must be a Pooling"),
])
def test_slot_spec_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SlotSpec(**kwargs)


def test_model_config_validation():
    with pytest.raises(ValueError, match="distinct names"):
        ModelConfig((SlotSpec("a", 1), SlotSpec("a", 2)))
    with pytest.raises(ValueError, match="hidden_units must all be >= 1"):
        ModelConfig(hidden_units=(0,))
    assert ModelConfig([SlotSpec("a", 1)], hidden_units=[4]).hidden_units == (4,)


def test_empty_batch_gives_zero_loss_and_zero_gradients():
    slots = (SlotSpec("a", 2, Pooling.MEAN), SlotSpec("c", 2, Pooling.FIRST_N, 2))
    model = CTRModel(ModelConfig(slots, num_dense=1, hidden_units=(3,)))
    empty = Batch({"a": Ragged.from_rows([]), "c": Ragged.from_rows([])},
                  np.zeros((0, 1), np.float32), np.zeros(0, np.float32))
    lookups = dedup_slots(empty, slots)
    rows = {s.name: np.zeros((0, 2), np.float32) for s in slots}
    result = model.forward_backward(empty, lookups, rows, model.init_params(0))
    assert result.loss == 0.0 and result.logits.shape == (0,)
    assert all(g.shape == (0, 2) for g in result.row_grads.values())
    assert all(not g.any() for g in result.param_grads.values())
