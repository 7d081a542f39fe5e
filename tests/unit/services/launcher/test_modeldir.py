import importlib.util
import json
import subprocess
import sys

import pytest

from services.launcher import modeldir
from services.launcher.config import LocalClusterConfig
from services.launcher.modeldir import ClusterError, UsageError


def test_lock_is_exclusive_and_released_with_its_holder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom services.launcher.modeldir import "
         "lock_model_dir\nlock_model_dir(__import__('pathlib').Path(sys.argv[1]))\n"
         "print('locked', flush=True)\ntime.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ClusterError, match="in use by another ps-cluster run"):
            modeldir.lock_model_dir(tmp_path)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    fd = modeldir.lock_model_dir(tmp_path)
    try:
        assert (tmp_path / ".ps-cluster.lock").read_text().strip().isdigit()
    finally:
        modeldir.os.close(fd)


def test_clear_stale_removes_previous_run_files_only(tmp_path):
    for name in ("ps/0", "ps/.1.tmp", "worker/0", "progress/worker-0.jsonl", "result.json",
                 "training.png", "cluster.json", "checkpoints/ckpt-1", "config.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("old")
    modeldir.clear_stale(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["checkpoints/ckpt-1", "config.json"]


def test_train_config_is_a_verbatim_copy(tmp_path):
    source = tmp_path / "mine.json"
    source.write_text('{"train": {"steps": 7}}  \n')
    cfg = LocalClusterConfig(1, 1, tmp_path / "run", config_path=source)
    modeldir.write_train_config(cfg)
    assert cfg.train_config_file.read_text() == source.read_text()


def test_default_train_config_is_the_reference_or_empty(tmp_path):
    cfg = LocalClusterConfig(1, 1, tmp_path / "run")
    modeldir.write_train_config(cfg)
    reference = modeldir.reference_config_path()
    expected = "{}\n" if reference is None else reference.read_text()
    assert cfg.train_config_file.read_text() == expected


@pytest.mark.parametrize("text, message", [("{oops", "not valid JSON"),
                                           ("[1, 2]", "must hold a JSON object, got list")])
def test_bad_config_files_are_usage_errors(tmp_path, text, message):
    source = tmp_path / "bad.json"
    source.write_text(text)
    with pytest.raises(UsageError, match=message):
        modeldir.write_train_config(LocalClusterConfig(1, 1, tmp_path / "run",
                                                       config_path=source))
    with pytest.raises(UsageError, match=message):
        modeldir.write_tables(LocalClusterConfig(1, 1, tmp_path / "run", tables_path=source))


def test_tables_file_is_copied_when_given(tmp_path):
    source = tmp_path / "tables.json"
    source.write_text(json.dumps({"tables": [{"name": "user", "dim": 8}]}))
    cfg = LocalClusterConfig(1, 1, tmp_path / "run", tables_path=source)
    modeldir.write_tables(cfg)
    assert cfg.tables_file.read_text() == source.read_text()


def test_tables_derive_from_the_training_config(tmp_path):
    cfg = LocalClusterConfig(1, 1, tmp_path / "run")
    modeldir.write_train_config(cfg)
    if importlib.util.find_spec("worker.config") is None:
        with pytest.raises(ClusterError, match="pass --tables FILE"):
            modeldir.write_tables(cfg)
    else:
        modeldir.write_tables(cfg)
        assert isinstance(json.loads(cfg.tables_file.read_text()), dict)
