import threading
import time

import pytest

from discovery import FileConfig, FileServiceDiscovery


@pytest.fixture
def disc(tmp_path):
    return FileServiceDiscovery(FileConfig(str(tmp_path / "registry")))


def test_basic(disc, tmp_path):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 1, "127.0.0.1:1001")
    assert disc.query("ps") == {0: "127.0.0.1:1000", 1: "127.0.0.1:1001"}
    assert (tmp_path / "registry" / "ps" / "1").read_text() == "127.0.0.1:1001"
    disc.deregister("ps", 0, "127.0.0.1:1000")
    disc.deregister("ps", 1, "127.0.0.1:1001")
    assert disc.query("ps") == {}
    assert list((tmp_path / "registry" / "ps").iterdir()) == []


def test_duplicate_registration_replaces(disc):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 0, "127.0.0.1:2000")
    assert disc.query("ps") == {0: "127.0.0.1:2000"}


def test_multi_names(disc):
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("worker", 0, "127.0.0.1:2000")
    disc.register("worker", 3, "[::1]:2003")
    assert disc.query("ps") == {0: "127.0.0.1:1000"}
    assert disc.query("worker") == {0: "127.0.0.1:2000", 3: "[::1]:2003"}
    assert disc.query("controller") == {}


def test_deregister_keeps_a_newer_addr(disc):
    """A stale process shutting down must not remove its successor's entry."""
    disc.register("ps", 0, "127.0.0.1:1000")
    disc.register("ps", 0, "127.0.0.1:2000")
    disc.deregister("ps", 0, "127.0.0.1:1000")
    assert disc.query("ps") == {0: "127.0.0.1:2000"}
    disc.deregister("ps", 5, "127.0.0.1:1000")
    assert disc.query("ps") == {0: "127.0.0.1:2000"}


def test_two_instances_share_the_directory(tmp_path):
    config = FileConfig(str(tmp_path))
    a, b = FileServiceDiscovery(config), FileServiceDiscovery(config)
    a.register("ps", 0, "127.0.0.1:1000")
    assert b.query("ps") == {0: "127.0.0.1:1000"}


def test_query_ignores_temp_and_foreign_files(disc, tmp_path):
    disc.register("ps", 0, "127.0.0.1:1000")
    (tmp_path / "registry" / "ps" / ".1.abc.tmp").write_text("127.0.0.1:9")
    (tmp_path / "registry" / "ps" / "README").write_text("x")
    (tmp_path / "registry" / "ps" / "2").write_text("")
    assert disc.query("ps") == {0: "127.0.0.1:1000"}


def test_readers_never_see_a_torn_addr(disc):
    addrs = [f"host-{'x' * 3000}:{port}" for port in range(1000, 1100)]
    disc.register("ps", 0, addrs[0])
    stop = threading.Event()
    seen = set()

    def writer():
        while not stop.is_set():
            for addr in addrs:
                disc.register("ps", 0, addr)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 10.0
        while len(seen) < 5 and time.monotonic() < deadline:
            seen.update(disc.query("ps").values())
    finally:
        stop.set()
        thread.join()
    assert seen <= set(addrs)
    assert len(seen) >= 5


def test_bad_entries_and_config(disc):
    with pytest.raises(ValueError, match="name"):
        disc.register("../etc", 0, "127.0.0.1:1")
    with pytest.raises(ValueError, match="base_dir"):
        FileConfig("")
