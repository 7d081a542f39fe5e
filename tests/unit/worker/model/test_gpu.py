"""The same model math on CuPy as on NumPy (needs a CUDA device; skipped elsewhere)."""

import numpy as np
import pytest

from worker.model import (
    CTRModel,
    ModelConfig,
    Pooling,
    ShampooConfig,
    ShampooOptimizer,
    SlotSpec,
    auc,
    clip_by_global_norm,
    dedup_slots,
    get_array_module,
    gpu_available,
    to_host,
)

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")]


def test_ctr_forward_backward_matches_cpu(small_batch):
    cp = get_array_module("gpu")
    slots = (SlotSpec("a", 3, Pooling.SUM), SlotSpec("b", 2, Pooling.MEAN),
             SlotSpec("c", 2, Pooling.FIRST_N, 2))
    config = ModelConfig(slots, num_dense=2, hidden_units=(8, 4))
    cpu, gpu = CTRModel(config), CTRModel(config, cp)
    lookups = dedup_slots(small_batch, slots)
    rng = np.random.default_rng(0)
    rows = {s.name: rng.standard_normal((lookups[s.name].ids.shape[0], s.dim)).astype(np.float32)
            for s in slots}
    params = cpu.init_params(0)
    want = cpu.forward_backward(small_batch, lookups, rows, params)
    got = gpu.forward_backward(small_batch, lookups, {k: cp.asarray(v) for k, v in rows.items()},
                               {k: cp.asarray(v) for k, v in params.items()})
    assert got.loss == pytest.approx(want.loss, rel=1e-5)
    np.testing.assert_allclose(to_host(got.logits), want.logits, rtol=1e-4, atol=1e-5)
    for name in rows:
        np.testing.assert_allclose(to_host(got.row_grads[name]), want.row_grads[name],
                                   rtol=1e-4, atol=1e-6)
    for name in params:
        np.testing.assert_allclose(to_host(got.param_grads[name]), want.param_grads[name],
                                   rtol=1e-4, atol=1e-6)


def test_clip_shampoo_and_auc_on_gpu():
    cp = get_array_module("gpu")
    clipped, norm = clip_by_global_norm([cp.asarray([-3.0, 0.0], cp.float32),
                                         cp.asarray([4.0], cp.float32)], 4.0)
    np.testing.assert_allclose(to_host(clipped[0]), [-2.4, 0.0], rtol=1e-6)
    assert float(norm) == pytest.approx(5.0)
    cfg = ShampooConfig(warmup=2, tau_1=1, tau_2=1, eigen_head=1, eigen_tail=1)
    rng = np.random.default_rng(1)
    host = {"w": rng.standard_normal((4, 3)).astype(np.float32)}
    dev = {"w": cp.asarray(host["w"])}
    cpu_opt, gpu_opt = ShampooOptimizer(cfg), ShampooOptimizer(cfg, cp)
    for step in range(6):
        g = rng.standard_normal((4, 3)).astype(np.float32)
        cpu_opt.apply(host, {"w": g}, step)
        gpu_opt.apply(dev, {"w": cp.asarray(g)}, step)
    np.testing.assert_allclose(to_host(dev["w"]), host["w"], rtol=1e-3, atol=1e-4)
    assert auc(cp.asarray([0, 1, 0, 1]), cp.asarray([0.1, 0.9, 0.5, 0.5])) == 0.875
