"""clip_by_global_norm: Monolith's clip_ops_test cases; inputs are never modified."""

import numpy as np
import pytest

from worker.model import clip_by_global_norm, global_norm

DENSE_SHAPES = [(328, 128), (128,), (128,), (128, 64), (64,), (64,), (1,), (256, 256), (256,),
                (256,), (256, 128), (128,), (128,), (128, 1), (1,), (1,), (2488, 256), (256,),
                (256,), (3184, 256), (256,), (256,), (96, 128), (128,), (128,), (128, 64),
                (64,), (64,), (1,), (64, 16), (16,), (16,), (1609, 2048), (2048,), (2048,),
                (2048, 1024), (1024,), (1024,), (1024, 512), (512,), (512,), (512, 256),
                (256,), (256,), (256, 1), (1,), (1,), (96, 64), (64,), (64,), (64, 1), (1,),
                (1,)]


def _reference(inputs, clip_norm):
    """TensorFlow's formula in float64: t * clip * min(1 / norm, 1 / clip), NaN if norm inf."""
    norm = np.sqrt(sum(float(np.sum(np.asarray(t, np.float64) ** 2)) for t in inputs))
    if not np.isfinite(norm):
        return [np.full(np.shape(t), np.nan) for t in inputs]
    scale = clip_norm * min(1.0 / norm if norm else np.inf, 1.0 / clip_norm)
    return [np.asarray(t, np.float64) * scale for t in inputs]


def _check(inputs, clip_norm, expected=None, rtol=1e-6):
    arrays = [np.asarray(t, dtype=np.float32) for t in inputs]
    before = [a.copy() for a in arrays]
    clipped, _ = clip_by_global_norm(arrays, clip_norm)
    if expected is None:
        expected = _reference(inputs, clip_norm)
    assert len(clipped) == len(expected)
    for got, want in zip(clipped, expected):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-7)
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)


def test_simple():
    _check([[-3.0, 0.0, 0.0], [4.0, 0.0, 0.0]], 4.0, [[-2.4, 0.0, 0.0], [3.2, 0.0, 0.0]])


def test_uneven_shapes():
    _check([[-3.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0]], 4.0,
           [[-2.4, 0.0, 0.0], [0.0, 0.0, 3.2, 0.0]])


def test_no_clipping():
    _check([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], 4.0, [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])


def test_zero_norm():
    _check([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], 4.0, [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_exploded_gradient_becomes_nan():
    inf = float("inf")
    _check([[inf, inf, inf], [inf, inf, inf]], 4.0, np.full((2, 3), np.nan))
    clipped, norm = clip_by_global_norm([np.array([inf, 0.0], np.float32),
                                         np.array([1.0], np.float32)], 1.0)
    assert np.isinf(norm)
    assert np.isnan(clipped[0]).all() and np.isnan(clipped[1]).all()


def test_large_random_gradients():
    rng = np.random.default_rng(0)
    grads = [rng.uniform(size=s) for s in DENSE_SHAPES]
    _check(grads, 1.0, rtol=1e-4)


def test_global_norm_values():
    inf = float("inf")
    assert float(global_norm([np.array([inf, inf, inf], np.float32)])) == inf
    assert float(global_norm([np.array([-3.0, 0, 0], np.float32),
                              np.array([4.0, 0, 0], np.float32)])) == pytest.approx(5.0)
    assert float(global_norm([np.array([-3.0, 0, 0], np.float32),
                              np.array([0, 0, 4.0, 0], np.float32)])) == pytest.approx(5.0)
    assert global_norm([]) == 0.0


def test_clip_norm_must_be_positive():
    with pytest.raises(ValueError, match="clip_norm must be > 0"):
        clip_by_global_norm([np.zeros(1)], 0.0)
