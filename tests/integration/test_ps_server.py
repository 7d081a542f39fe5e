"""A real PS process over loopback: row life cycle, golden optimizer values, touched keys,
dense variables, health, reflection, metrics, signals."""

from __future__ import annotations

import re
import signal
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ps_server.optim.shampoo import ShampooConfig, ShampooOptimizer
from services import wire
from services.pb import parameter_server_pb2 as pb
from services.tensors import from_tensor, to_tensor
from tests.integration.rpc import RawPS


def table(name="t", dim=4, optimizer=None, initializer=None, **extra):
    return {"name": name, "dim": dim,
            "optimizer": optimizer or {"type": "sgd", "learning_rate": 1.0},
            "initializer": initializer or {"type": "zeros"}, **extra}


@pytest.fixture
def one_ps(ps_factory):
    def start(tables, **kw):
        server, = ps_factory(tables, **kw)
        return server, RawPS(server.address)
    return start


def test_pull_is_read_only_and_first_push_creates_rows(one_ps):
    _, ps = one_ps([table(initializer={"type": "constant", "value": 0.5})])
    ids = np.array([5, -1, 2**62], np.int64)
    np.testing.assert_array_equal(ps.pull("t", ids), np.zeros((3, 4), np.float32))
    assert ps.info("t")[0].rows == 0
    result = ps.push("t", ids[:2], np.ones((2, 4)))
    assert (result.applied, result.filtered, result.created) == (2, 0, 2)
    rows = ps.pull("t", ids)
    np.testing.assert_allclose(rows[:2], np.full((2, 4), -0.5))
    np.testing.assert_array_equal(rows[2], np.zeros(4))
    assert ps.info("t")[0].rows == 2


def test_duplicate_ids_in_one_push_are_summed_then_applied_once(one_ps):
    _, ps = one_ps([table(optimizer={"type": "adagrad", "learning_rate": 0.1,
                                     "initial_accumulator": 1.0})])
    ps.push("t", [9, 9, 9], np.full((3, 4), 0.5))
    # one Adagrad step with g = 1.5: accum = 1 + 2.25, w = -0.1 * 1.5 / sqrt(3.25)
    expected = np.float32(-0.1 * 1.5 / np.sqrt(3.25))
    np.testing.assert_allclose(ps.pull("t", [9])[0], np.full(4, expected), rtol=1e-6)


GOLDEN = [
    ("adamom", {"learning_rate": 0.1, "weight_decay": 0.01, "ada_decay": 0.99, "mom_decay": 0.9,
                "epsilon": 1e-6}, 0.090000336, {"m": 0.0121, "v": 0.014641, "c": 1.0}),
    ("rmsprop", {"learning_rate": 0.1, "weight_decay": 1.0, "beta1": 0.9, "beta2": 0.9,
                 "epsilon": 0.1}, 0.03205474, {"m": 0.06794526, "v": 0.00484}),
    ("rmspropv2", {"learning_rate": 0.1, "weight_decay": 1.0, "beta1": 0.9, "beta2": 0.9,
                   "epsilon": 0.1}, 0.03125, {"m": 0.06875, "v": 0.0484}),
]


def test_one_request_mixing_large_and_small_tables(one_ps):
    # large tables are split over the kernel pool, small ones share a job: every row lands
    # where it belongs, and a bad table rejects the whole push
    names = ("big", "s1", "s2", "big2", "s3")
    _, ps = one_ps([table(n) for n in names], extra=["--threads", "2"])
    rng = np.random.default_rng(3)
    ids = {n: rng.choice(10**9, size=70_000 if n.startswith("big") else 37, replace=False)
           for n in names}
    grads = {n: rng.standard_normal((ids[n].size, 4)).astype(np.float32) for n in names}
    pushes = [wire.TablePush(n, ids[n], grads[n]) for n in names]
    reply = pb.PushResponse.FromString(ps.raw_push(
        wire.encode_push_request(wire.PushMessage(pushes)), timeout=120))
    assert [(r.table, r.applied) for r in reply.results] == [(n, ids[n].size) for n in names]
    rows = wire.decode_pull_response(ps.raw_pull(
        wire.encode_pull_request([(n, ids[n][::-1]) for n in names]), timeout=60))
    for n, got in zip(names, rows):
        np.testing.assert_array_equal(got, -grads[n][::-1])
    bad = grads["s3"].copy()
    bad[5, 1] = np.nan
    pushes[-1] = wire.TablePush("s3", ids["s3"], bad)
    with pytest.raises(grpc.RpcError) as err:
        ps.raw_push(wire.encode_push_request(wire.PushMessage(pushes)), timeout=120)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    np.testing.assert_array_equal(ps.pull("big", ids["big"][:10]), -grads["big"][:10])


@pytest.mark.parametrize("kind,hp,var,slots", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_one_step_values_through_the_server(one_ps, kind, hp, var, slots):
    _, ps = one_ps([table(dim=2, optimizer={"type": kind, **hp},
                          initializer={"type": "constant", "value": 0.1})])
    ps.push("t", [1], np.full((1, 2), 0.12))
    np.testing.assert_allclose(ps.pull("t", [1]), np.full((1, 2), var), rtol=1e-6)
    got = ps.slots("t", [1])
    for name, value in slots.items():
        np.testing.assert_allclose(got[name], np.full_like(got[name], value), rtol=1e-6,
                                   err_msg=f"slot {name}")


def test_fp16_pull_dtype(one_ps):
    _, ps = one_ps([table(pull_dtype="fp16", initializer={"type": "random_uniform", "seed": 3})])
    ps.push("t", [1, 2], np.ones((2, 4)) * 1e-3)
    rows = ps.pull("t", [1, 2, 3])
    assert rows.dtype == np.float16 and rows.shape == (3, 4)
    full = ps.inspect("t", [1, 2, 3])["embeddings"]
    np.testing.assert_array_equal(rows, full.astype(np.float16))


def test_occurrence_filter_admits_on_the_threshold_plus_one_occurrence(one_ps):
    _, ps = one_ps([table(occurrence_threshold=2)])
    for expected_applied in (0, 0, 1):
        r = ps.push("t", [42], np.ones((1, 4)))
        assert r.applied == expected_applied and r.filtered == 1 - expected_applied
    r = ps.push("t", [7], np.ones((1, 4)), counts=[5])  # 5 occurrences, none seen before
    assert r.filtered == 1
    assert ps.push("t", [7], np.ones((1, 4))).applied == 1
    np.testing.assert_allclose(ps.pull("t", [42, 7]), -np.ones((2, 4)))


def test_expiry_by_data_time_and_evict(one_ps):
    _, ps = one_ps([table(expire_after_s=100)])
    ps.push("t", [1, 2], np.ones((2, 4)), timestamp_s=1_000)
    ps.push("t", [3], np.ones((1, 4)), timestamp_s=1_099)
    assert ps.inspect("t", [1])["last_update_s"][0] == 1_000
    assert ps.stub.Evict(pb.EvictRequest(table="t")).evicted == 0
    ps.push("t", [3], np.ones((1, 4)), timestamp_s=1_100)
    assert ps.stub.Evict(pb.EvictRequest()).evicted == 2
    assert ps.info("t")[0].rows == 1
    np.testing.assert_array_equal(ps.pull("t", [1, 2]), np.zeros((2, 4)))


def test_touched_keys_follow_the_capacity_example(one_ps):
    _, ps = one_ps([table(touched_capacity=1000, occurrence_threshold=1)])
    assert ps.push("t", [99_999], np.ones((1, 4))).filtered == 1
    ps.push("t", np.arange(1005), np.ones((1005, 4)))
    reply = ps.stub.StealTouchedKeys(pb.StealTouchedKeysRequest(table="t"))
    assert reply.dropped == 0  # 0..1004 were filtered: seen once, threshold 1
    ps.push("t", np.arange(1005), np.ones((1005, 4)))
    reply = ps.stub.StealTouchedKeys(pb.StealTouchedKeysRequest(table="t"))
    assert sorted(from_tensor(reply.ids, "ids").tolist()) == [1001, 1002, 1003, 1004]
    assert reply.dropped == 1001
    again = ps.stub.StealTouchedKeys(pb.StealTouchedKeysRequest(table="t"))
    assert from_tensor(again.ids, "ids").size == 0


def test_dense_variables_created_on_first_use_and_updated(one_ps):
    _, ps = one_ps([table()], dense_optimizer={"type": "sgd", "learning_rate": 0.5})
    init = np.arange(6, dtype=np.float32).reshape(2, 3)
    req = pb.PullDenseRequest(variables=[pb.DenseVariable(name="w", initial_value=to_tensor(init))])
    np.testing.assert_array_equal(from_tensor(ps.stub.PullDense(req).values[0], "v"), init)
    grad = np.ones((2, 3), np.float32)
    reply = ps.stub.PushDense(pb.PushDenseRequest(
        gradients=[pb.DenseGradient(name="w", gradient=to_tensor(grad))]))
    assert list(reply.update_counts) == [1]
    later = ps.stub.PullDense(pb.PullDenseRequest(variables=[pb.DenseVariable(name="w")]))
    np.testing.assert_allclose(from_tensor(later.values[0], "v"), init - 0.5)
    with pytest.raises(grpc.RpcError) as err:
        ps.stub.PullDense(pb.PullDenseRequest(variables=[pb.DenseVariable(name="nope")]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "nope" in err.value.details()


def test_shampoo_dense_optimizer_matches_the_in_process_optimizer(one_ps):
    hp = {"learning_rate": 0.1, "warmup": 2, "tau_1": 2, "tau_2": 1, "eigen_head": 1,
          "eigen_tail": 1}
    _, ps = one_ps([table()], dense_optimizer={"type": "shampoo", **hp})
    rng = np.random.default_rng(7)
    value = rng.standard_normal((3, 2)).astype(np.float32)
    req = pb.PullDenseRequest(variables=[pb.DenseVariable(name="w", initial_value=to_tensor(value))])
    np.testing.assert_array_equal(from_tensor(ps.stub.PullDense(req).values[0], "v"), value)
    ref = ShampooOptimizer(ShampooConfig(**hp))
    for step in range(5):
        grad = rng.standard_normal((3, 2)).astype(np.float32)
        reply = ps.stub.PushDense(pb.PushDenseRequest(
            gradients=[pb.DenseGradient(name="w", gradient=to_tensor(grad))]))
        assert list(reply.update_counts) == [step + 1]
        ref.apply({"w": value}, {"w": grad}, step)
    later = ps.stub.PullDense(pb.PullDenseRequest(variables=[pb.DenseVariable(name="w")]))
    np.testing.assert_allclose(from_tensor(later.values[0], "v"), value, rtol=1e-6, atol=1e-7)


def test_table_info_reports_config_and_memory(one_ps):
    _, ps = one_ps([table(name="a", dim=16, optimizer={"type": "adagrad"}),
                    table(name="b", dim=8, pull_dtype="fp16")])
    ps.push("a", np.arange(10_000), np.ones((10_000, 16)))
    infos = {t.config.name: t for t in ps.info()}
    assert sorted(infos) == ["a", "b"]
    a = infos["a"]
    assert (a.rows, a.config.dim, a.config.optimizer.type) == (10_000, 16, "adagrad")
    assert a.config.optimizer.hyperparameters["initial_accumulator"] == pytest.approx(0.1)
    assert [(s.name, s.width) for s in a.slots] == [("accum", 16)]
    assert a.capacity >= a.rows and a.bytes >= a.rows * 144
    assert infos["b"].config.pull_dtype == 2


def test_health_and_reflection(one_ps):
    server, _ = one_ps([table()])
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "monolith_ps.v1.ParameterServer"):
            assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == \
                health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
            list_services="")]))
        names = {s.name for r in replies for s in r.list_services_response.service}
    assert "monolith_ps.v1.ParameterServer" in names and "grpc.health.v1.Health" in names


def test_health_answers_while_a_long_push_runs(one_ps):
    _, ps = one_ps([table(dim=32, optimizer={"type": "adam"})])
    n = 3_000_000
    ids = np.arange(n, dtype=np.int64) * 7919
    grads = np.ones((n, 32), np.float32)
    done = threading.Event()
    answered_during_push = []

    def push():
        try:
            ps.push("t", ids, grads)
        finally:
            done.set()

    worker = threading.Thread(target=push)
    worker.start()
    health = health_pb2_grpc.HealthStub(ps.channel)
    while not done.is_set():
        reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        if not done.is_set():
            answered_during_push.append(reply.status)
        time.sleep(0.02)
    worker.join()
    assert ps.info("t")[0].rows == n
    assert len(answered_during_push) >= 5
    assert set(answered_during_push) == {health_pb2.HealthCheckResponse.SERVING}


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def _sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not in scrape:\n{text}")


def test_metrics_are_scraped_over_http(one_ps):
    server, ps = one_ps([table(touched_capacity=3)], metrics=True)
    ps.pull("t", [1, 2, 3])
    ps.push("t", [1, 2, 3, 4, 5], np.ones((5, 4)))
    with pytest.raises(grpc.RpcError):
        ps.pull("missing", [1])
    text = _scrape(server.metrics_port)
    p = "monolith_training_ps"
    assert _sample(text, f"{p}_rpc_total", method="Pull", code="OK") == 1
    assert _sample(text, f"{p}_rpc_total", method="Pull", code="NOT_FOUND") == 1
    assert _sample(text, f"{p}_rpc_total", method="Push", code="OK") == 1
    assert _sample(text, f"{p}_rpc_latency_seconds_count", method="Push") == 1
    assert _sample(text, f"{p}_rows_pulled_total", table="t") == 3
    assert _sample(text, f"{p}_rows_pushed_total", table="t") == 5
    assert _sample(text, f"{p}_table_rows", table="t") == 5
    assert _sample(text, f"{p}_table_bytes", table="t") > 5 * 4 * 4
    assert _sample(text, f"{p}_touched_keys_dropped_total", table="t") == 4


def test_metric_prefix_comes_from_the_environment(one_ps):
    server, ps = one_ps([table()], metrics=True, env={"MONOLITH_METRIC_PREFIX": "team.ranker"})
    ps.pull("t", [1])
    assert _sample(_scrape(server.metrics_port), "team_ranker_ps_rpc_total", method="Pull") == 1


def _wait_for_log(server, predicate, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(predicate(r) for r in server.log_records()):
            return
        assert server.proc.poll() is None, server.log()
        time.sleep(0.01)
    raise AssertionError(f"log line not seen within {timeout_s} s:\n{server.log()}")


def test_sigterm_finishes_the_in_flight_push_and_exits_zero(one_ps):
    server, ps = one_ps([table(dim=32, optimizer={"type": "adam"})], extra=["--log-level", "DEBUG"])
    n = 2_000_000
    result = {}

    def push():
        result["r"] = ps.push("t", np.arange(n, dtype=np.int64), np.ones((n, 32), np.float32))

    worker = threading.Thread(target=push)
    worker.start()
    _wait_for_log(server, lambda r: r.get("msg") == "rpc started" and r.get("method") == "Push")
    server.signal(signal.SIGTERM)
    worker.join(120)
    assert result["r"].applied == n
    assert server.proc.wait(60) == 0
    records = server.log_records()
    push_done = [r for r in records if r.get("msg") == "rpc finished" and r.get("method") == "Push"]
    assert push_done and push_done[0]["code"] == "OK"
    messages = [r.get("msg") for r in records]
    assert messages.index("stop signal received") < messages.index("stopped")


def test_sigusr1_prints_every_stack_and_keeps_serving(one_ps):
    server, ps = one_ps([table()])
    server.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while "stack dump on signal" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert "stack dump on signal" in log and "--- thread MainThread" in log
    np.testing.assert_array_equal(ps.pull("t", [1]), np.zeros((1, 4)))
    assert server.proc.poll() is None
