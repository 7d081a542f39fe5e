"""A real Prometheus server scrapes a running PS and controller; its HTTP API must answer with their metrics.

Prometheus (the Debian package's /usr/bin/prometheus) runs with a temp config
and data dir on a free loopback port, scraping every second, and is stopped
by PID. The queries are the ones a dashboard makes: request counters by
method and status code, table sizes by table, rows pulled and pushed, the
controller's global step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest

from services.pb import controller_pb2, controller_pb2_grpc
from tests.procs import free_port, start_controller, start_ps
from worker import PSClient, PSClientError

PROMETHEUS = "/usr/bin/prometheus"
PREFIX = "monolith_training"  # the default of MONOLITH_METRIC_PREFIX, made Prometheus-safe
_WAIT_S = 90.0

_TABLES = [
    {"name": "user", "dim": 4, "optimizer": {"type": "sgd", "learning_rate": 0.1},
     "initializer": {"type": "zeros"}},
    {"name": "item", "dim": 2, "optimizer": {"type": "sgd", "learning_rate": 0.1},
     "initializer": {"type": "zeros"}, "pull_dtype": "fp16"},
]


@dataclass
class Prometheus:
    """A running Prometheus server: its HTTP API at ``url``, its log file."""

    proc: subprocess.Popen
    url: str
    log_path: Path

    def query(self, promql: str) -> list[dict]:
        """Instant query; the result vector as [{"metric": {labels}, "value": [t, "v"]}]."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            with urllib.request.urlopen(address, timeout=10) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as exc:  # 400 for a PromQL error, with the reason
            pytest.fail(f"{promql}: HTTP {exc.code}: {exc.read().decode(errors='replace')}")
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, promql: str, expected: float | None = None,
                 timeout_s: float = _WAIT_S) -> list[dict]:
        """Polls until the query returns one series whose value is ``expected`` (any
        series at all when ``expected`` is None); returns the answer.

        Fails with the last answer if that never happens (scrapes come every second).
        """
        deadline = time.monotonic() + timeout_s
        result: list[dict] = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if expected is None and result:
                return result
            if len(result) == 1 and float(result[0]["value"][1]) == expected:
                return result
            time.sleep(0.5)
        pytest.fail(f"{promql} never became {expected}; last answer: {result}")

    def targets(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=10) as reply:
            return json.load(reply)["data"]["activeTargets"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        """SIGTERM by PID, SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def start_prometheus(root: Path, jobs: dict[str, list[str]]) -> Prometheus:
    """Starts Prometheus scraping ``jobs`` (job name -> host:port targets) every second."""
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}
                           for job, targets in jobs.items()],
    }
    config_path = root / "prometheus.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = free_port()
    log_path = root / "prometheus.log"
    args = [PROMETHEUS, f"--config.file={config_path}", f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    server = Prometheus(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + _WAIT_S
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as reply:
                if reply.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"prometheus did not become ready:\n{server.log()}")
        time.sleep(0.2)


@pytest.fixture
def prometheus(tmp_path, request):
    """``prometheus(jobs)`` starts a Prometheus server; every one started is stopped by PID."""
    if not os.access(PROMETHEUS, os.X_OK):
        message = f"{PROMETHEUS} is missing (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    started: list[Prometheus] = []

    def factory(jobs: dict[str, list[str]]) -> Prometheus:
        server = start_prometheus(tmp_path / f"prometheus-{len(started)}", jobs)
        started.append(server)
        return server

    yield factory
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for server in started:
        server.stop()
        if failed:
            sys.stderr.write(f"\n--- prometheus log (pid {server.proc.pid}) ---\n{server.log()[-20000:]}")


@pytest.fixture
def ps(tmp_path, request):
    """One PS shard with its metrics endpoint on; stopped by PID."""
    tables = tmp_path / "tables.json"
    tables.write_text(json.dumps({"tables": _TABLES}))
    server = start_ps(tmp_path, tables, metrics=True)
    yield server
    server.stop()
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    if failed:
        sys.stderr.write(f"\n--- log of {server.address} (pid {server.pid}) ---\n{server.log()[-20000:]}")


def _labels(series: dict) -> dict:
    return {k: v for k, v in series["metric"].items() if k != "__name__"}


def test_prometheus_scrapes_ps_request_counters_and_table_gauges(ps, prometheus):
    user_ids = np.array([1, 2, 3, 4, 5], np.int64)
    with PSClient([ps.address]) as client:
        client.push({"user": user_ids, "item": np.array([7, 8], np.int64)},
                    {"user": np.ones((5, 4), np.float32), "item": np.ones((2, 2), np.float32)})
        client.push({"user": user_ids[:2]}, {"user": np.ones((2, 4), np.float32)})
        for _ in range(3):
            client.pull({"user": np.array([1, 2, 3, 9, 9, 10, 11], np.int64)})
        with pytest.raises(PSClientError):
            client.pull({"missing": np.array([1], np.int64)})

    target = f"127.0.0.1:{ps.metrics_port}"
    server = prometheus({"monolith-ps": [target]})
    server.wait_for('up{job="monolith-ps"}', 1)

    pushes = server.wait_for(f'{PREFIX}_ps_rpc_total{{method="Push",code="OK"}}', 2)
    assert _labels(pushes[0]) == {"job": "monolith-ps", "instance": target,
                                  "method": "Push", "code": "OK"}
    server.wait_for(f'{PREFIX}_ps_rpc_total{{method="Pull",code="OK"}}', 3)
    server.wait_for(f'{PREFIX}_ps_rpc_total{{method="Pull",code="NOT_FOUND"}}', 1)

    rows = server.wait_for(f'{PREFIX}_ps_table_rows{{table="user"}}', 5)
    assert _labels(rows[0]) == {"job": "monolith-ps", "instance": target, "table": "user"}
    server.wait_for(f'{PREFIX}_ps_table_rows{{table="item"}}', 2)
    by_table = {_labels(s)["table"] for s in server.query(f"{PREFIX}_ps_table_bytes")}
    assert by_table == {"user", "item"}
    assert all(float(s["value"][1]) > 0 for s in server.query(f"{PREFIX}_ps_table_bytes"))

    # Client dedup sends 6 distinct ids per pull (9 twice): 3 pulls.
    server.wait_for(f'{PREFIX}_ps_rows_pulled_total{{table="user"}}', 18)
    server.wait_for(f'{PREFIX}_ps_rows_pushed_total{{table="user"}}', 7)
    # The latency histogram counts every Pull, whatever its status.
    server.wait_for(f'sum({PREFIX}_ps_rpc_latency_seconds_count{{method="Pull"}})', 4)
    quantile = server.query(
        f'histogram_quantile(0.5, sum by (le) ({PREFIX}_ps_rpc_latency_seconds_bucket{{method="Pull"}}))')
    assert len(quantile) == 1 and float(quantile[0]["value"][1]) > 0

    assert [t["health"] for t in server.targets()] == ["up"]


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "monolith-ps-dashboard.json"


def _dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every dashboard query, template variables set as Grafana would."""
    dashboard = json.loads(DASHBOARD.read_text())
    values = {"prefix": PREFIX, "job": ".*", "instance": ".*", "__rate_interval": "30s"}
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in values.items():
                expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
            out.append((panel["title"], expr))
    return out


def test_every_dashboard_query_answers_from_a_real_scrape(ps, prometheus):
    with PSClient([ps.address]) as client:
        ids = {"user": np.array([1, 2, 3], np.int64), "item": np.array([4, 5], np.int64)}
        for _ in range(3):
            client.push(ids, {"user": np.ones((3, 4), np.float32), "item": np.ones((2, 2), np.float32)})
            client.pull(ids)
        with pytest.raises(PSClientError):
            client.pull({"missing": np.array([1], np.int64)})
    server = prometheus({"monolith-ps": [f"127.0.0.1:{ps.metrics_port}"]})
    # Rates need two scrapes of the counters.
    server.wait_for(f'count_over_time({PREFIX}_ps_rpc_total{{method="Push",code="OK"}}[1m]) >= 2')
    server.wait_for(f'{PREFIX}_ps_table_rows{{table="user"}}', 3)
    queries = _dashboard_queries()
    assert len(queries) >= 8
    for title, expr in queries:
        # Valid PromQL (a parse error fails the query) and at least one series to plot.
        assert server.query(expr), f"panel {title!r}: {expr} returned no series"


@pytest.fixture
def controller(tmp_path, request):
    """A ps-controller for 2 workers with its metrics endpoint on; stopped by PID."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    metrics_port = free_port()
    server = start_controller(tmp_path, model_dir, num_ps=1, num_workers=2,
                              extra=["--metrics-port", str(metrics_port)])
    server.metrics_port = metrics_port
    yield server
    server.stop()
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    if failed:
        sys.stderr.write(f"\n--- controller log (pid {server.pid}) ---\n{server.log()[-20000:]}")


def test_prometheus_scrapes_ps_and_controller_side_by_side(ps, controller, prometheus):
    with grpc.insecure_channel(controller.address) as channel:
        stub = controller_pb2_grpc.ControllerStub(channel)
        stub.ReportStep(controller_pb2.ReportStepRequest(worker_index=0, step=7), timeout=30)
        reply = stub.ReportStep(controller_pb2.ReportStepRequest(worker_index=1, step=5), timeout=30)
        with pytest.raises(grpc.RpcError) as bad:
            stub.ReportStep(controller_pb2.ReportStepRequest(worker_index=9, step=1), timeout=30)
    assert reply.global_step == 12  # asynchronous training: the sum of the workers' steps
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with PSClient([ps.address]) as client:
        client.push({"user": np.array([1, 2], np.int64)}, {"user": np.ones((2, 4), np.float32)})

    ps_target = f"127.0.0.1:{ps.metrics_port}"
    controller_target = f"127.0.0.1:{controller.metrics_port}"
    server = prometheus({"monolith-ps": [ps_target], "monolith-controller": [controller_target]})
    server.wait_for('sum(up{job=~"monolith-.*"})', 2)

    step = server.wait_for(f"{PREFIX}_controller_global_step", 12)
    assert _labels(step[0]) == {"job": "monolith-controller", "instance": controller_target}
    server.wait_for(f'{PREFIX}_controller_rpc_total{{method="ReportStep",code="OK"}}', 2)
    server.wait_for(f'{PREFIX}_controller_rpc_total{{method="ReportStep",code="INVALID_ARGUMENT"}}', 1)
    rows = server.wait_for(f'{PREFIX}_ps_table_rows{{table="user"}}', 2)
    assert _labels(rows[0])["job"] == "monolith-ps"
    # Each role's series carry only its own job: no PS metric under the controller's job.
    assert server.query(f'{{job="monolith-controller",__name__=~"{PREFIX}_ps_.*"}}') == []
    assert sorted(t["labels"]["job"] for t in server.targets()) == ["monolith-controller", "monolith-ps"]
