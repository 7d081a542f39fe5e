"""docker/entrypoint.py (the image's PID 1) and docker/healthcheck.py, on real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.procs import free_port
from tests.unit.deploy.manifests import DOCKER, ROOT, load_entrypoint

ENTRYPOINT = DOCKER / "entrypoint.py"
HEALTHCHECK = DOCKER / "healthcheck.py"
BIN = Path(sys.executable).parent


@pytest.fixture
def entry():
    return load_entrypoint()


def test_role_comes_from_the_first_argument(entry):
    role, command, env = entry.resolve(["ps", "--tables", "t.json"], {"MLP_ROLE": ""})
    assert (role, command) == ("ps", ["ps-server", "--tables", "t.json"])
    assert env["MLP_ROLE"] == "ps"


def test_role_comes_from_mlp_role_when_the_arguments_are_flags(entry):
    role, command, env = entry.resolve(["--model-dir", "/m"], {"MLP_ROLE": "Worker"})
    assert role == "worker"
    assert command == ["python3", "-m", "worker", "train", "--model-dir", "/m"]
    assert env["MLP_ROLE"] == "worker"


def test_other_commands_run_as_given(entry):
    assert entry.resolve(["ps-ctl", "status"], {"MLP_ROLE": "ps"}) == (
        None, ["ps-ctl", "status"], {"MLP_ROLE": "ps"})


def test_completion_index_becomes_the_role_index_unless_set(entry):
    _, _, env = entry.resolve(["worker"], {"JOB_COMPLETION_INDEX": "3"})
    assert env["MLP_ROLE_INDEX"] == "3"
    _, _, env = entry.resolve(["worker"], {"JOB_COMPLETION_INDEX": "3", "MLP_ROLE_INDEX": "1"})
    assert env["MLP_ROLE_INDEX"] == "1"


@pytest.mark.parametrize("args,env,address", [
    (["ps", "--host=0.0.0.0", "--port=50051"], {}, "127.0.0.1:50051"),
    (["ps", "--host", "10.0.0.7"], {"MLP_PORT": "6000"}, "10.0.0.7:6000"),
    (["controller", "--host=::"], {"MLP_PORT": "50050"}, "[::1]:50050"),
    (["ps"], {}, None),  # port 0: nothing fixed to check
    (["worker", "--port=1"], {}, None),  # workers serve no gRPC
])
def test_grpc_address_seen_from_inside_the_container(entry, args, env, address):
    role, command, child_env = entry.resolve(args, env)
    assert entry.grpc_address(role, command, child_env) == address


def _run(args: list[str], env: dict[str, str], run_dir: Path, **kw) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MLP_")}
    full.update(env, MONOLITH_PS_RUN_DIR=str(run_dir),
                PATH=os.pathsep.join([str(BIN), full.get("PATH", "")]),
                PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(ENTRYPOINT), *args], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_state(run_dir: Path, timeout_s: float = 30.0) -> dict:
    path = run_dir / "entry.json"
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, "entrypoint wrote no entry.json"
        time.sleep(0.05)
    return json.loads(path.read_text())


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in \
        Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]


SLEEPER = [sys.executable, "-c", "import sys, time; print('up', flush=True); time.sleep(120)"]


def test_sigterm_is_forwarded_and_a_stop_exits_zero(tmp_path):
    proc = _run(SLEEPER, {}, tmp_path)
    try:
        assert proc.stdout.readline().strip() == "up"
        child = _wait_state(tmp_path)["pid"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not _alive(child)
    finally:
        _stop(proc)


def test_exit_code_of_the_role_passes_through(tmp_path):
    proc = _run([sys.executable, "-c", "raise SystemExit(7)"], {}, tmp_path)
    assert proc.wait(timeout=30) == 7


def test_a_signal_that_is_not_a_stop_keeps_its_code(tmp_path):
    script = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    proc = _run([sys.executable, "-c", script], {}, tmp_path)
    assert proc.wait(timeout=30) == 128 + signal.SIGKILL


def test_role_that_handles_sigterm_gets_to_finish(tmp_path):
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\n"
              "print('up', flush=True)\ntime.sleep(120)\n")
    proc = _run([sys.executable, "-c", script], {}, tmp_path)
    try:
        assert proc.stdout.readline().strip() == "up"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 3
    finally:
        _stop(proc)


def test_bad_role_is_one_line_and_exit_2(tmp_path):
    proc = _run(["--flag"], {"MLP_ROLE": "chief"}, tmp_path)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        "monolith-ps-entrypoint: MLP_ROLE must be one of ps, controller, worker, got 'chief'"]


def test_missing_command_exits_127(tmp_path):
    proc = _run(["no-such-command-here"], {}, tmp_path)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 127
    assert "cannot run no-such-command-here" in err


def _health(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MONOLITH_PS_RUN_DIR=str(run_dir), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(HEALTHCHECK), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_ps_role_serves_reports_healthy_and_stops_on_sigterm(tmp_path):
    """The ps role through PID 1: health SERVING over gRPC, then SIGTERM -> exit 0."""
    run_dir = tmp_path / "run"
    assert _health(run_dir).returncode == 1  # not started yet
    port = free_port()
    tables = ROOT / "ps_server" / "examples" / "tables.json"
    proc = _run(["ps", f"--tables={tables}", "--host=127.0.0.1", "--log-level=WARNING"],
                {"MLP_PORT": str(port)}, run_dir)
    try:
        state = _wait_state(run_dir)
        assert state["role"] == "ps"
        assert state["grpc_address"] == f"127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while (result := _health(run_dir)).returncode != 0:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, result.stderr
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not _alive(state["pid"])
        result = _health(run_dir)
        assert result.returncode == 1
        assert "UNAVAILABLE" in result.stderr
    finally:
        _stop(proc)


def test_worker_health_follows_its_process(tmp_path):
    (tmp_path / "entry.json").write_text(json.dumps(
        {"role": "worker", "pid": os.getpid(), "grpc_address": None}))
    assert _health(tmp_path).returncode == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "entry.json").write_text(json.dumps(
        {"role": "worker", "pid": gone.pid, "grpc_address": None}))
    result = _health(tmp_path)
    assert result.returncode == 1
    assert f"process {gone.pid} is gone" in result.stderr
