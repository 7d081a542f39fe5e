import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]


def run_cli(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.launcher", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout_s)


@pytest.mark.parametrize("args, message", [
    ((), "the following arguments are required: command"),
    (("local", "--num-ps", "2"), "the following arguments are required: --num-workers"),
    (("local", "--num-ps", "two", "--num-workers", "1", "--model-dir", "d"), "invalid int"),
    (("local", "--num-ps", "0", "--num-workers", "1", "--model-dir", "d"),
     "num_ps must be an integer >= 1, got 0"),
    (("local", "--num-ps", "1", "--num-workers", "1", "--model-dir", "d",
      "--config", "/nonexistent/train.json"), "config_path must be an existing file"),
    (("remote",), "invalid choice: 'remote'"),
])
def test_usage_errors_are_one_line_with_exit_2(tmp_path, args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("ps-cluster") and message in proc.stderr


def test_invalid_json_config_is_one_line_with_exit_2(tmp_path):
    config = tmp_path / "train.json"
    config.write_text("{not json")
    proc = run_cli("local", "--num-ps", "1", "--num-workers", "1",
                   "--model-dir", str(tmp_path / "run"), "--config", str(config))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "is not valid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_model_dir_in_use_is_one_line_with_exit_1(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, pathlib\nfrom services.launcher.modeldir "
         "import lock_model_dir\nlock_model_dir(pathlib.Path(sys.argv[1]))\n"
         "print('locked', flush=True)\ntime.sleep(60)", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = run_cli("local", "--num-ps", "1", "--num-workers", "1",
                       "--model-dir", str(tmp_path))
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert proc.returncode == 1
    assert proc.stderr == f"ps-cluster: model dir {tmp_path} is in use by another ps-cluster run\n"


def test_help_lists_the_local_command():
    proc = run_cli("local", "--help")
    assert proc.returncode == 0
    for flag in ("--num-ps", "--num-workers", "--model-dir", "--config"):
        assert flag in proc.stdout
