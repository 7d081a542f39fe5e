"""Real PS processes serving TLS, mutual TLS and a bearer token, called over loopback.

Certificates come from a throwaway CA made with the openssl CLI (``tests/certs.py``).
"""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest

from discovery.net import get_local_ip
from services.health import is_serving
from services.retry import RetryPolicy
from services.security import TOKEN_ENV, SecurityConfig, sync_channel
from tests.certs import make_certs
from tests.procs import start_ps
from worker.client import PSClient, PSClientError

TOKEN = "tls-test-token-0123456789"
_TABLES = [{"name": "user", "dim": 4, "optimizer": {"type": "sgd", "learning_rate": 1.0},
            "initializer": {"type": "zeros"}}]
_ONCE = RetryPolicy(max_attempts=1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls")
    certs = make_certs(root / "certs")
    token_file = root / "token"
    token_file.write_text(f"  {TOKEN}\n")
    tables = root / "tables.json"
    tables.write_text(json.dumps({"tables": _TABLES}))
    return root, certs, token_file, tables


@pytest.fixture(scope="module")
def token_ps(setup):
    """A PS serving TLS that wants the token (from a file), metrics on loopback."""
    root, certs, token_file, tables = setup
    probe = SecurityConfig(ca_path=certs.ca)
    server = start_ps(root, tables, metrics=True, security=probe, extra=[
        "--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key),
        "--auth-token-file", str(token_file), "--metrics-host", "127.0.0.1"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls_ps(setup):
    """A PS serving mutual TLS that takes its token from ``$MONOLITH_PS_TOKEN``."""
    root, certs, _, tables = setup
    probe = SecurityConfig(ca_path=certs.ca, client_cert_path=certs.client.cert,
                           client_key_path=certs.client.key)
    server = start_ps(root, tables, security=probe, env={TOKEN_ENV: TOKEN}, extra=[
        "--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key),
        "--tls-ca", str(certs.ca), "--tls-require-client-cert"])
    yield server
    server.stop()


def _pull(address: str, security: SecurityConfig | None) -> np.ndarray:
    with PSClient([address], timeout_s=10.0, retry=_ONCE, security=security) as client:
        return client.pull({"user": np.array([1, 2], dtype=np.int64)})["user"]


def _code(address: str, security: SecurityConfig | None) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(PSClientError) as info:
        _pull(address, security)
    return info.value.code, info.value.details


def test_plaintext_client_cannot_reach_a_tls_server(token_ps):
    code, _ = _code(token_ps.address, None)
    assert code == grpc.StatusCode.UNAVAILABLE


def test_a_server_certificate_from_another_ca_is_refused(setup, token_ps):
    _, certs, _, _ = setup
    code, details = _code(token_ps.address, SecurityConfig(ca_path=certs.other_ca, token=TOKEN))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in details


def test_no_token_is_unauthenticated(setup, token_ps):
    _, certs, _, _ = setup
    code, details = _code(token_ps.address, SecurityConfig(ca_path=certs.ca))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "no auth token" in details


def test_wrong_token_is_permission_denied(setup, token_ps):
    _, certs, _, _ = setup
    code, details = _code(token_ps.address, SecurityConfig(ca_path=certs.ca, token=TOKEN + "x"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "does not match" in details


def test_right_ca_and_token_push_and_pull(setup, token_ps):
    _, certs, _, _ = setup
    security = SecurityConfig(ca_path=certs.ca, token=TOKEN)
    ids = {"user": np.array([5, 6, 5], dtype=np.int64)}
    with PSClient([token_ps.address], timeout_s=10.0, security=security) as client:
        client.push(ids, {"user": np.ones((3, 4), np.float32)})
        rows = client.pull(ids)["user"]
    # sgd with learning rate 1 from zeros: id 5 got two unit gradients, id 6 one
    np.testing.assert_array_equal(rows, -np.array([[2] * 4, [1] * 4, [2] * 4], np.float32))


def test_health_answers_without_a_token_but_only_over_tls(setup, token_ps):
    _, certs, _, _ = setup
    with sync_channel(token_ps.address, SecurityConfig(ca_path=certs.ca)) as channel:
        assert is_serving(channel, timeout_s=10.0)
    with sync_channel(token_ps.address, None) as channel:
        assert not is_serving(channel, timeout_s=2.0)


def test_rejected_calls_are_counted_by_status(setup, token_ps):
    _, certs, _, _ = setup
    _code(token_ps.address, SecurityConfig(ca_path=certs.ca, token="another-token"))
    text = _scrape(token_ps.metrics_port)
    assert 'method="Pull"' in text and 'code="PERMISSION_DENIED"' in text


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of every TCP socket listening on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # /proc prints each 32-bit word in host (little-endian) order
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
                found.add(socket.inet_ntop(family, words))
    return found


def test_metrics_endpoint_listens_on_loopback_only(token_ps):
    assert "monolith_training_ps_rpc" in _scrape(token_ps.metrics_port)
    assert _listening_addresses(token_ps.metrics_port) == {"127.0.0.1"}
    local_ip = get_local_ip()
    if not local_ip.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((local_ip, token_ps.metrics_port), timeout=5).close()


def test_mutual_tls_needs_a_client_certificate(setup, mtls_ps):
    _, certs, _, _ = setup
    code, _ = _code(mtls_ps.address, SecurityConfig(ca_path=certs.ca, token=TOKEN))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_with_a_client_certificate_and_the_env_token(setup, mtls_ps):
    _, certs, _, _ = setup
    security = SecurityConfig(ca_path=certs.ca, client_cert_path=certs.client.cert,
                              client_key_path=certs.client.key, token=TOKEN)
    np.testing.assert_array_equal(_pull(mtls_ps.address, security), np.zeros((2, 4), np.float32))
    without_token = SecurityConfig(ca_path=certs.ca, client_cert_path=certs.client.cert,
                                   client_key_path=certs.client.key)
    assert _code(mtls_ps.address, without_token)[0] == grpc.StatusCode.UNAUTHENTICATED


def test_local_cluster_trains_over_tls_with_a_token(setup, tmp_path):
    """``ps-cluster local`` hands the flags on: PS serve TLS and want the token, the worker
    sends it, and the launcher's own readiness probe reaches the PS over TLS."""
    import os
    import signal
    import subprocess
    import sys

    from services.launcher.modeldir import reference_config_path
    from tests.procs import ROOT

    _, certs, token_file, _ = setup
    config = json.loads(reference_config_path().read_text())
    config["data"].update(num_examples=20_000, num_eval_examples=2_000)
    config["train"].update(steps=10, log_every=5, eval_every=1000)
    config_path = tmp_path / "train.json"
    config_path.write_text(json.dumps(config))
    model_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "services.launcher", "local", "--num-ps", "1",
            "--num-workers", "1", "--model-dir", str(model_dir), "--config", str(config_path),
            "--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key),
            "--tls-ca", str(certs.ca), "--auth-token-file", str(token_file),
            "--timeout-s", "240"]
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        manifest = model_dir / "cluster.json"
        children = json.loads(manifest.read_text())["processes"] if manifest.exists() else []
        for child in children:
            try:
                os.kill(child["pid"], signal.SIGKILL)  # only left over when the launcher died
            except ProcessLookupError:
                pass
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}"
                     for p in sorted((model_dir / "logs").glob("*.log")))
    assert proc.returncode == 0, f"{err}\n{logs}"
    result = json.loads((model_dir / "result.json").read_text())
    assert result["steps"] == 10
    argv_of = {c["role"]: c["argv"] for c in children}
    assert {"--tls-cert", "--tls-key", "--auth-token-file"} <= set(argv_of["ps"])
    assert {"--tls-ca", "--auth-token-file"} <= set(argv_of["worker"])
    assert TOKEN not in json.dumps(children)  # the token never goes on a command line


def test_benchmark_attaches_to_a_tls_ps_with_the_token(setup, token_ps, tmp_path):
    """``ps-benchmark run --ps`` reaches the PS from its client processes over TLS with the
    token, the Transfer baseline too; the JSON records the TLS files, not the token."""
    import subprocess
    import sys

    from tests.procs import ROOT

    _, certs, token_file, _ = setup
    out = tmp_path / "run.json"
    done = subprocess.run(
        [sys.executable, "-m", "worker.benchmark", "run", "--ps", token_ps.address,
         "--seconds", "0.4", "--batch-size", "256", "--vocab", "10000", "--tables", "1",
         "--baselines", "transfer", "--json", str(out),
         "--tls-ca", str(certs.ca), "--auth-token-file", str(token_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert all(op["rows_per_s"] > 0 for op in doc["operations"].values())
    assert doc["config"]["security"]["ca_path"] == str(certs.ca.resolve())
    assert TOKEN not in out.read_text()
