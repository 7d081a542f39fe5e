import json

import pytest

from discovery import TfConfigServiceDiscovery

CLUSTER = {"chief": ["c0:1"], "worker": ["w0:1", "w1:1"], "ps": ["p0:1", "p1:1"]}


def _config(task_type, index, cluster=CLUSTER):
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_tf_conf_sd():
    disc = TfConfigServiceDiscovery(_config("worker", 1))
    assert disc.query("ps") == {0: "p0:1", 1: "p1:1"}
    assert disc.query("worker") == {0: "c0:1", 1: "w0:1", 2: "w1:1"}
    assert disc.addr == "w1:1"
    assert disc.server_type == "worker"
    assert disc.index == 2


def test_chief_is_worker_zero():
    disc = TfConfigServiceDiscovery(_config("chief", 0))
    assert (disc.server_type, disc.index, disc.addr) == ("worker", 0, "c0:1")


def test_ps_task_and_no_chief():
    cluster = {"worker": ["w0:1"], "ps": ["p0:1", "p1:1"]}
    disc = TfConfigServiceDiscovery(_config("ps", 1, cluster))
    assert (disc.server_type, disc.index, disc.addr) == ("ps", 1, "p1:1")
    assert disc.query("worker") == {0: "w0:1"}
    assert disc.query("controller") == {}
    assert TfConfigServiceDiscovery(_config("worker", 0, cluster)).index == 0


def test_register_and_deregister_change_nothing():
    disc = TfConfigServiceDiscovery(_config("worker", 0))
    disc.register("ps", 7, "x:1")
    disc.deregister("ps", 0, "p0:1")
    assert disc.query("ps") == {0: "p0:1", 1: "p1:1"}


def test_reads_tf_config_env(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _config("ps", 0))
    assert TfConfigServiceDiscovery().addr == "p0:1"
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        TfConfigServiceDiscovery()


@pytest.mark.parametrize("text, match", [
    ("{not json", "not valid JSON"), ("[]", "'cluster' object"),
    (json.dumps({"cluster": CLUSTER}), "'task' object"),
    (_config("worker", 5), "worker:5 is not in cluster"),
])
def test_bad_tf_config(text, match):
    with pytest.raises(ValueError, match=match):
        TfConfigServiceDiscovery(text)
