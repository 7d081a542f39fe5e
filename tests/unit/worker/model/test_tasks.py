"""The seed tasks each give a finite loss and exact gradients through the loop contract."""

import numpy as np
import pytest

from worker.model import TaskKind, dedup_slots, make_task


def _run(task):
    """The loop's step with a dict store of random rows; returns the step results."""
    rng = np.random.default_rng(0)
    store: dict[int, np.ndarray] = {}
    results = []
    params = {k: v for k, v in task.model.init_params(0).items()}
    for batch in task.batches:
        lookups = dedup_slots(batch, task.model.slots)
        rows = {}
        for spec in task.model.slots:
            ids = lookups[spec.name].ids.tolist()
            rows[spec.name] = np.stack([store.setdefault(i, rng.standard_normal(spec.dim)
                                                         .astype(np.float32)) for i in ids])
        results.append((lookups, rows, task.model.forward_backward(batch, lookups, rows, params)))
    return results


def test_feature_task():
    task = make_task(TaskKind.FEATURE)
    assert task.name == "feature_task" and len(task.batches) == 5
    for lookups, rows, result in _run(task):
        assert lookups["feature"].ids.tolist() == [1, 2, 3, 4]
        assert result.loss == pytest.approx(float(rows["feature"].sum()), rel=1e-5)
        np.testing.assert_array_equal(result.row_grads["feature"], np.ones((4, 5)))
        assert result.param_grads == {}


def test_float_feature_task():
    (lookups, rows, result), = _run(make_task("float_feature"))
    assert lookups["ragged_feature"].ids.tolist() == [0]
    assert result.loss == pytest.approx(2 * float(rows["ragged_feature"].sum()), rel=1e-5)
    np.testing.assert_array_equal(result.row_grads["ragged_feature"], np.full((1, 5), 2.0))
    np.testing.assert_array_equal(result.logits, [1.0])


def test_sequence_feature_task_uses_first_two():
    (lookups, rows, result), = _run(make_task(TaskKind.SEQUENCE_FEATURE))
    seq = rows["sequence_feature"]
    assert lookups["sequence_feature"].ids.tolist() == [1, 2, 3, 4, 5]
    assert result.loss == pytest.approx(float(seq[:4].sum()), rel=1e-5)
    expected = np.ones((5, 5))
    expected[4] = 0.0
    np.testing.assert_array_equal(result.row_grads["sequence_feature"], expected)


def test_non_feature_task():
    task = make_task(TaskKind.NON_FEATURE)
    assert task.model.slots == () and task.model.param_shapes() == {}
    (_, _, result), = _run(task)
    assert result.loss == 0.0
    assert result.row_grads == {} and result.param_grads == {}


@pytest.mark.parametrize("kind", list(TaskKind))
def test_every_task_is_finite(kind):
    for _, _, result in _run(make_task(kind)):
        assert np.isfinite(result.loss)
        assert all(np.isfinite(g).all() for g in result.row_grads.values())
        assert all(np.isfinite(g).all() for g in result.param_grads.values())
