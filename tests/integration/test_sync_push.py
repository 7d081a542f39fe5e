"""Synchronous steps on real PS processes: the mean of every replica, applied once."""

from __future__ import annotations

import concurrent.futures as cf

import grpc
import numpy as np
import pytest

from worker import PSClient, PSClientError

SGD = {"type": "sgd", "learning_rate": 1.0}


def test_sync_step_applies_the_mean_of_all_replicas_once(ps_factory):
    servers = ps_factory([{"name": "t", "dim": 2, "optimizer": SGD,
                           "initializer": {"type": "zeros"}}], num_shards=2, dense_optimizer=SGD)
    addresses = [s.address for s in servers]
    ids = np.arange(100, dtype=np.int64)
    with PSClient(addresses) as a, PSClient(addresses) as b, cf.ThreadPoolExecutor(2) as pool:
        a.pull_dense({"w": np.zeros(3, np.float32)})
        for step, (ga, gb) in enumerate([(1.0, 3.0), (2.0, 0.0)], start=1):
            fa = pool.submit(a.push_sync, {"t": ids[:60]}, {"t": np.full((60, 2), ga, np.float32)},
                             step=step, replicas=2)
            fb = pool.submit(b.push_sync, {"t": ids[40:]}, {"t": np.full((60, 2), gb, np.float32)},
                             step=step, replicas=2)
            da = pool.submit(a.push_dense_sync, {"w": np.full(3, ga, np.float32)}, step=step,
                             replicas=2)
            db = pool.submit(b.push_dense_sync, {"w": np.full(3, gb, np.float32)}, step=step,
                             replicas=2)
            (stats_a, stop_a), (stats_b, stop_b) = fa.result(60), fb.result(60)
            assert stats_a == stats_b and stats_a["t"].applied == 100
            assert not stop_a and not stop_b
            assert da.result(60)[0] == {"w": step} and db.result(60)[0] == {"w": step}
        rows = a.pull({"t": ids})["t"]
        dense = a.pull_dense({"w": None})["w"]
    # ids 0..39 only in a, 60..99 only in b, 40..59 in both; the mean halves every gradient
    want = np.zeros(100, np.float32)
    want[:60] -= (1.0 + 2.0) / 2
    want[40:] -= (3.0 + 0.0) / 2
    np.testing.assert_allclose(rows, np.repeat(want[:, None], 2, axis=1))
    np.testing.assert_allclose(dense, np.full(3, -(1.0 + 3.0 + 2.0 + 0.0) / 2))


def test_end_of_data_stops_every_replica_and_bad_rounds_fail(ps_factory):
    server, = ps_factory([{"name": "t", "dim": 2, "optimizer": SGD,
                           "initializer": {"type": "zeros"}}])
    ids = np.arange(4, dtype=np.int64)
    grads = np.ones((4, 2), np.float32)
    with PSClient([server.address]) as a, PSClient([server.address]) as b, \
            cf.ThreadPoolExecutor(2) as pool:
        fa = pool.submit(a.push_sync, {"t": ids}, {"t": grads}, step=1, replicas=2)
        fb = pool.submit(b.push_sync, {}, {}, step=1, replicas=2, end_of_data=True)
        assert fa.result(60)[1] is True and fb.result(60)[1] is True
        np.testing.assert_allclose(a.pull({"t": ids})["t"], -0.5 * grads)
        with pytest.raises(PSClientError) as err:
            a.push_sync({"t": ids}, {"t": grads}, step=1, replicas=2)
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "already applied" in str(err.value)
        assert a.push_sync({"t": ids}, {"t": grads}, step=2, replicas=2)[1] is True


def test_contributors_must_agree_on_the_replica_count(ps_factory):
    server, = ps_factory([{"name": "t", "dim": 2, "optimizer": SGD,
                           "initializer": {"type": "zeros"}}])
    ids = np.arange(4, dtype=np.int64)
    grads = np.ones((4, 2), np.float32)
    with PSClient([server.address], sync_timeout_s=5) as a, \
            PSClient([server.address], sync_timeout_s=5) as b, \
            cf.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(a.push_sync, {"t": ids}, {"t": grads}, step=5, replicas=3),
                   pool.submit(b.push_sync, {"t": ids}, {"t": grads}, step=5, replicas=2)]
        errors = []
        for future in futures:
            with pytest.raises(PSClientError) as err:
                future.result(60)
            errors.append(err.value)
    codes = sorted(e.code.name for e in errors)
    assert codes == ["DEADLINE_EXCEEDED", "FAILED_PRECONDITION"]
    mismatch, = [e for e in errors if e.code == grpc.StatusCode.FAILED_PRECONDITION]
    assert "differs" in str(mismatch)
