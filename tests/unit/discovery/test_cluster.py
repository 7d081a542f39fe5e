import threading

import pytest

from discovery import (
    ClusterTimeoutError,
    FileConfig,
    FileServiceDiscovery,
    fetch_ps_cluster_from_file,
    ps_cluster_file_name,
    save_ps_cluster_to_file,
    wait_for_chief,
    wait_for_ps,
)

FAST = {"timeout_s": 5.0, "poll_interval_s": 0.02}


@pytest.fixture
def disc(tmp_path):
    return FileServiceDiscovery(FileConfig(str(tmp_path / "registry")))


def test_wait_for_ps_sorted_by_index(disc):
    for index in (2, 0, 1, 5):
        disc.register("ps", index, f"127.0.0.1:{1000 + index}")
    assert wait_for_ps(disc, 3, **FAST) == ["127.0.0.1:1000", "127.0.0.1:1001", "127.0.0.1:1002"]


def test_wait_for_ps_sees_late_registrations(disc):
    disc.register("ps", 0, "127.0.0.1:1000")
    timer = threading.Timer(0.2, disc.register, ("ps", 1, "127.0.0.1:1001"))
    timer.start()
    try:
        assert wait_for_ps(disc, 2, **FAST) == ["127.0.0.1:1000", "127.0.0.1:1001"]
    finally:
        timer.join()


def test_wait_for_ps_names_missing_indices(disc):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 3, "127.0.0.1:1003")
    with pytest.raises(ClusterTimeoutError,
                       match=r"2 of 3 ps not registered .* missing ps indices \[1, 2\]; "
                             r"registered: \[0, 3\]"):
        wait_for_ps(disc, 3, timeout_s=0.1, poll_interval_s=0.02)


def test_wait_for_chief(disc):
    disc.register("worker", 1, "127.0.0.1:2001")
    with pytest.raises(ClusterTimeoutError, match=r"chief \(worker 0\).*registered: \[1\]"):
        wait_for_chief(disc, timeout_s=0.1, poll_interval_s=0.02)
    disc.register("worker", 0, "127.0.0.1:2000")
    assert wait_for_chief(disc, **FAST) == "127.0.0.1:2000"


def test_wait_rejects_bad_arguments(disc):
    with pytest.raises(ValueError, match="num_ps"):
        wait_for_ps(disc, 0)
    with pytest.raises(ValueError, match="poll_interval_s"):
        wait_for_chief(disc, poll_interval_s=0)


def test_ps_cluster_file_round_trip(tmp_path):
    path = ps_cluster_file_name(tmp_path, "uuid-1")
    assert path == tmp_path / "ps_cluster_dir" / "uuid-1"
    assert ps_cluster_file_name(tmp_path).name == "ps_info"
    addrs = ["127.0.0.1:1000", "[::1]:1001", "host-b:1002"]
    save_ps_cluster_to_file(path, addrs)
    assert path.read_text() == "127.0.0.1:1000,[::1]:1001,host-b:1002"
    assert fetch_ps_cluster_from_file(path, timeout_s=0) == addrs
    assert [p.name for p in path.parent.iterdir()] == ["uuid-1"]


def test_fetch_waits_for_the_file_then_gives_up(tmp_path):
    path = ps_cluster_file_name(tmp_path)
    assert fetch_ps_cluster_from_file(path, timeout_s=0.1, poll_interval_s=0.02) == []
    timer = threading.Timer(0.1, save_ps_cluster_to_file, (path, ["127.0.0.1:1"]))
    timer.start()
    try:
        assert fetch_ps_cluster_from_file(path, timeout_s=5, poll_interval_s=0.02) == ["127.0.0.1:1"]
    finally:
        timer.join()


def test_save_rejects_bad_addrs(tmp_path):
    with pytest.raises(ValueError, match="ps addrs"):
        save_ps_cluster_to_file(tmp_path / "f", ["a:1,b:2"])
