from pathlib import Path

import pytest

from services.launcher.config import LocalClusterConfig


def test_paths_resolve_and_derived_files_live_in_model_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.json").write_text("{}")
    cfg = LocalClusterConfig(2, 3, Path("run"), config_path=Path("train.json"))
    assert cfg.model_dir == tmp_path / "run"
    assert cfg.config_path == tmp_path / "train.json"
    assert cfg.log_dir == tmp_path / "run" / "logs"
    assert cfg.progress_dir == tmp_path / "run" / "progress"
    assert cfg.train_config_file == tmp_path / "run" / "config.json"
    assert cfg.tables_file == tmp_path / "run" / "tables.json"
    assert cfg.result_file == tmp_path / "run" / "result.json"
    assert cfg.plot_file == tmp_path / "run" / "training.png"


@pytest.mark.parametrize("kwargs, field", [
    ({"num_ps": 0}, "num_ps"),
    ({"num_workers": -1}, "num_workers"),
    ({"num_ps": True}, "num_ps"),
    ({"num_workers": 1.5}, "num_workers"),
    ({"model_dir": ""}, "model_dir"),
    ({"config_path": "missing.json"}, "config_path"),
    ({"tables_path": "missing.json"}, "tables_path"),
    ({"base_port": 0}, "base_port"),
    ({"base_port": 65535}, "base_port"),
    ({"metrics_base_port": 70000}, "metrics_base_port"),
    ({"base_port": 4000, "metrics_base_port": 4001}, "overlap"),
    ({"ready_timeout_s": 0}, "ready_timeout_s"),
    ({"ready_timeout_s": float("inf")}, "ready_timeout_s"),
    ({"grace_s": -1}, "grace_s"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"poll_interval_s": 0}, "poll_interval_s"),
    ({"ps_module": "ps server"}, "ps_module"),
    ({"worker_module": "worker..x"}, "worker_module"),
    ({"worker_module": "1worker"}, "worker_module"),
])
def test_invalid_values_name_the_field(tmp_path, monkeypatch, kwargs, field):
    monkeypatch.chdir(tmp_path)
    base = {"num_ps": 2, "num_workers": 2, "model_dir": tmp_path / "run"}
    with pytest.raises(ValueError, match=field):
        LocalClusterConfig(**{**base, **kwargs})


def test_ports_fit_every_ps(tmp_path):
    cfg = LocalClusterConfig(2, 1, tmp_path, base_port=65534, metrics_base_port=9000)
    assert cfg.base_port + cfg.num_ps - 1 == 65535


def test_config_is_frozen(tmp_path):
    cfg = LocalClusterConfig(1, 1, tmp_path)
    with pytest.raises(AttributeError):
        cfg.num_ps = 3
