"""Shampoo against a plain NumPy reference of the same steps, and eigen_inverse_root cases."""

import numpy as np
import pytest

from worker.model import ShampooConfig, ShampooOptimizer
from worker.model.shampoo import apply_sparse_precond, eigen_inverse_root


def _with_eigenvalues(evals, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(evals), len(evals))))
    return (q * np.asarray(evals, dtype=np.float64)) @ q.T


def _ref_inverse_root_matrix(mat, p, head, tail, damping):
    """Full preconditioner matrix, written from the rule, not from the implementation."""
    dim = mat.shape[0]
    ev, vec = np.linalg.eigh(mat)
    above = np.flatnonzero(ev > damping)
    skip = int(above[0]) if above.size else 0
    if head + tail > dim:
        keep = list(range(dim))
        offset = 0.0
    else:
        skip = min(skip, dim - head - tail)
        keep = list(range(skip, skip + head)) + list(range(dim - tail, dim))
        middle = ev[skip + head:dim - tail]
        offset = float(middle.mean()) if middle.size else 0.0
    powered = np.maximum(ev, damping) ** (-1.0 / p)
    v = vec[:, keep]
    return v @ np.diag(powered[keep] - offset) @ v.T + offset * np.eye(dim)


def _precond_matrix(pvec, pval, offset):
    return pvec @ np.diag(pval) @ pvec.T + offset * np.eye(pvec.shape[0])


def test_full_selection_is_the_exact_inverse_root():
    evals = [0.5, 1.0, 2.0, 4.0]
    mat = _with_eigenvalues(evals)
    pvec, pval, offset = eigen_inverse_root(np, mat, 4, head=3, tail=3)
    assert offset == 0.0 and pvec.shape == (4, 4)
    root = _with_eigenvalues(np.asarray(evals) ** -0.25)
    np.testing.assert_allclose(_precond_matrix(pvec, pval, offset), root, atol=1e-10)


@pytest.mark.parametrize("evals,head,tail,kept,offset", [
    ([0, 0, 1, 2, 3, 4], 1, 1, [1, 4], 2.5),
    ([0, 0, 0, 1, 2], 2, 1, [0, 1, 2], 0.0),
    ([0, 0, 0], 1, 1, [0, 0], 0.0),
    ([1, 2, 3, 4, 5, 6], 2, 0, [1, 2], 4.5),
    ([1, 2, 3, 4, 5, 6], 0, 2, [5, 6], 2.5),
])
def test_head_tail_selection_zeros_and_offset(evals, head, tail, kept, offset):
    mat = _with_eigenvalues(evals, seed=len(evals) + head)
    pvec, pval, got_offset = eigen_inverse_root(np, mat, 2, head, tail, damping=1e-3)
    assert pvec.shape == (len(evals), head + tail)
    assert got_offset == pytest.approx(offset, abs=1e-9)
    expected_pval = np.maximum(np.asarray(kept, float), 1e-3) ** -0.5 - offset
    np.testing.assert_allclose(np.sort(pval), np.sort(expected_pval), rtol=1e-7)
    if 0 not in kept:
        np.testing.assert_allclose(_precond_matrix(pvec, pval, got_offset),
                                   _ref_inverse_root_matrix(mat, 2, head, tail, 1e-3),
                                   atol=1e-9)


def test_apply_sparse_precond_rotates_axes():
    rng = np.random.default_rng(1)
    t = rng.standard_normal((3, 4, 2))
    pvec = np.linalg.qr(rng.standard_normal((3, 3)))[0][:, :2]
    pval = np.array([0.5, 2.0])
    out = apply_sparse_precond(np, t, pvec, pval, 0.25)
    assert out.shape == (4, 2, 3)
    expected = np.moveaxis(np.tensordot(_precond_matrix(pvec, pval, 0.25), t, axes=(1, 0)), 0, -1)
    np.testing.assert_allclose(out, expected, atol=1e-12)


class _ReferenceShampoo:
    """Plain NumPy Shampoo: full preconditioner matrices, axis-wise products."""

    def __init__(self, cfg: ShampooConfig, params):
        self.cfg = cfg
        self.state = {}
        for name, p in params.items():
            self.state[name] = {
                "g": [np.zeros((d, d)) for d in p.shape], "s": [np.zeros((d, d)) for d in p.shape],
                "P": [np.zeros((d, d)) for d in p.shape],
                "d": np.zeros(p.shape), "m": np.zeros(p.shape), "pm": np.zeros(p.shape)}

    def step(self, params, grads, t):
        c = self.cfg
        warm = t > c.warmup
        rate = min(max(t / c.warmup - 1.0, 0.0), 1.0)
        for name, grad in grads.items():
            st = self.state[name]
            rank = grad.ndim
            pre = grad
            for i in range(rank):
                if t % c.tau_2 == 0:
                    flat = np.moveaxis(grad, i, 0).reshape(grad.shape[i], -1)
                    st["g"][i] = flat @ flat.T
                if c.beta_2 < 1.0:
                    st["s"][i] = c.beta_2 * st["s"][i] + (1 - c.beta_2) * st["g"][i]
                else:
                    st["s"][i] = st["s"][i] + st["g"][i]
                if warm and t % c.tau_1 == 0:
                    st["P"][i] = _ref_inverse_root_matrix(st["s"][i], 2 * rank, c.eigen_head,
                                                          c.eigen_tail, c.damping_epsilon)
                pre = np.moveaxis(np.tensordot(st["P"][i], pre, axes=(1, i)), 0, i)
            st["d"] = st["d"] + grad ** 2
            st["m"] = c.beta_1 * st["m"] + (1 - c.beta_1) * grad / np.sqrt(st["d"] + 1e-30)
            st["pm"] = c.beta_1 * st["pm"] + (1 - c.beta_1) * pre
            diag = c.learning_rate * st["m"]
            if warm:
                second = (c.learning_rate * np.sqrt((st["m"] ** 2).sum())
                          / (np.sqrt((st["pm"] ** 2).sum()) + 1e-10) * st["pm"])
                params[name] = params[name] - ((1 - rate) * diag + rate * second)
            else:
                params[name] = params[name] - diag


@pytest.mark.parametrize("beta_2", [1.0, 0.9])
def test_matches_numpy_reference(beta_2):
    cfg = ShampooConfig(learning_rate=0.05, beta_2=beta_2, warmup=8, tau_1=3, tau_2=2,
                        eigen_head=2, eigen_tail=1)
    rng = np.random.default_rng(4)
    shapes = {"w": (5, 4), "b": (4,), "t": (3, 2, 2)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    ref_params = {k: v.copy() for k, v in params.items()}
    opt = ShampooOptimizer(cfg, np)
    ref = _ReferenceShampoo(cfg, params)
    for step in range(30):
        grads = {k: rng.standard_normal(s) for k, s in shapes.items()}
        opt.apply(params, grads, step)
        ref.step(ref_params, grads, step)
        for k in shapes:
            np.testing.assert_allclose(params[k], ref_params[k], rtol=1e-7, atol=1e-9,
                                       err_msg=f"{k} at step {step}")
    slots = opt.slots("w")
    assert sorted(slots) == sorted(["d", "m", "pm"] + [f"{s}{i}" for i in range(2)
                                                      for s in ("s", "g", "pvec", "pval", "o")])
    assert slots["pvec0"].shape == (5, 3) and slots["pval1"].shape == (3,)


def test_float32_parameters_stay_float32_and_track_float64():
    cfg = ShampooConfig(warmup=4, tau_1=2, tau_2=1, eigen_head=2, eigen_tail=2)
    rng = np.random.default_rng(5)
    p32 = {"w": rng.standard_normal((6, 3)).astype(np.float32)}
    p64 = {"w": p32["w"].astype(np.float64)}
    o32, o64 = ShampooOptimizer(cfg), ShampooOptimizer(cfg)
    for step in range(12):
        g = rng.standard_normal((6, 3))
        o32.apply(p32, {"w": g.astype(np.float32)}, step)
        o64.apply(p64, {"w": g}, step)
    assert p32["w"].dtype == np.float32
    np.testing.assert_allclose(p32["w"], p64["w"], rtol=1e-4, atol=1e-4)


def test_before_warmup_it_is_the_adagrad_style_step():
    cfg = ShampooConfig(learning_rate=0.1, beta_1=0.0)
    params = {"w": np.zeros((2, 2))}
    grad = np.array([[1.0, -2.0], [0.5, 0.0]])
    ShampooOptimizer(cfg).apply(params, {"w": grad}, 0)
    np.testing.assert_allclose(params["w"], -0.1 * grad / np.sqrt(grad ** 2 + 1e-30))


def test_shape_mismatch_and_config_validation():
    with pytest.raises(ValueError, match=r"gradient of 'w' has shape \(3,\), parameter has \(2,\)"):
        ShampooOptimizer().apply({"w": np.zeros(2)}, {"w": np.zeros(3)}, 0)
    with pytest.raises(ValueError, match="tau_1 must be >= 1, got 0"):
        ShampooConfig(tau_1=0)
    with pytest.raises(ValueError, match=r"beta_1 must be in \[0, 1\)"):
        ShampooConfig(beta_1=1.0)
