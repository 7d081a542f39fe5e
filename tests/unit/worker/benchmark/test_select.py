"""Monolith's PS selection: host-adjusted ranking, selection count, override, publishing."""

import threading

import pytest

from worker.benchmark.select import (
    BenchmarkConfig,
    adjusted_scores,
    host_of,
    publish,
    select_ps,
    select_top,
    wait_published,
)
from worker.benchmark.types import BenchmarkError


def _measured(values: dict[str, float]):
    """A measurement that returns planted throughputs instead of timing servers."""
    seen = []

    def measure(ps_list, seconds, settings, progress):
        seen.append((tuple(ps_list), seconds))
        return [values[a] for a in ps_list]

    return measure, seen


def test_host_of():
    assert host_of("10.0.0.1:2222") == "10.0.0.1"
    assert host_of("[::1]:2222") == "[::1]"
    assert host_of("ps0") == "ps0"


def test_without_shared_hosts_the_fastest_win_in_order():
    ps = ("a:1", "b:1", "c:1", "d:1")
    assert select_top(ps, [10.0, 40.0, 30.0, 20.0], 2) == ["b:1", "c:1"]
    assert select_top(ps, [10.0, 40.0, 30.0, 20.0], 4) == ["b:1", "c:1", "d:1", "a:1"]


def test_slower_ps_of_a_host_lift_its_fastest():
    """Planted: ip1 holds the single fastest PS, ip2 two slower ones whose sum is higher.

    From slowest to fastest, each PS adds the slower PS of its host: 10.0.0.2:2 gets
    60 + 50 = 110 and beats 10.0.0.1:1 (100); 10.0.0.2:1 keeps its own 50.
    """
    ps = ("10.0.0.1:1", "10.0.0.2:1", "10.0.0.2:2")
    tp = [100.0, 50.0, 60.0]
    assert adjusted_scores(ps, tp) == [(110.0, 2), (100.0, 0), (50.0, 1)]
    assert select_top(ps, tp, 1) == ["10.0.0.2:2"]
    assert select_top(ps, tp, 2) == ["10.0.0.2:2", "10.0.0.1:1"]


def test_a_host_accumulates_from_its_slowest_ps_up():
    ps = ("h:1", "h:2", "h:3", "g:1")
    tp = [3.0, 1.0, 2.0, 5.0]
    assert adjusted_scores(ps, tp) == [(6.0, 0), (5.0, 3), (3.0, 2), (1.0, 1)]


def test_ties_go_to_the_later_ps_as_in_monolith():
    assert select_top(("a:1", "b:1", "c:1"), [5.0, 5.0, 5.0], 2) == ["c:1", "b:1"]


def test_select_ps_measures_and_keeps_num_ps_required():
    measure, seen = _measured({"a:1": 1.0, "b:1": 3.0, "c:1": 2.0})
    config = BenchmarkConfig(["a:1", "b:1", "c:1"], num_ps_required=2, num_workers=1,
                             index=0, benchmark_secs=1.5)
    lines = []
    assert select_ps(config, measure=measure, report=lines.append) == ["b:1", "c:1"]
    assert seen == [(("a:1", "b:1", "c:1"), 1.5)]
    assert len(lines) == 3 and lines[0].startswith("a:1: 1 rows/s")


def test_override_skips_the_benchmark_and_is_returned_as_is():
    measure, seen = _measured({})
    config = BenchmarkConfig(["ps0", "ps1"], num_ps_required=1, num_workers=1, index=0,
                             benchmark_secs=1.0, ps_str_overridden="overridden")
    assert select_ps(config, measure=measure) == ["overridden"]
    config = BenchmarkConfig([], num_ps_required=1, num_workers=2, index=1,
                             ps_str_overridden="127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")
    assert select_ps(config, measure=measure) == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    assert seen == []


@pytest.mark.parametrize("kwargs, field", [
    (dict(ps_list=[], num_ps_required=1), "ps_list"),
    (dict(ps_list=["a:1", "a:1"], num_ps_required=1), "ps_list"),
    (dict(ps_list=["a:1"], num_ps_required=2), "num_ps_required"),
    (dict(ps_list=["a:1"], num_ps_required=0), "num_ps_required"),
    (dict(ps_list=["a:1"], num_ps_required=1, num_workers=0), "num_workers"),
    (dict(ps_list=["a:1"], num_ps_required=1, index=3), "index"),
    (dict(ps_list=["a:1"], num_ps_required=1, benchmark_secs=0.0), "benchmark_secs"),
    (dict(ps_list=["a:1"], num_ps_required=1, ps_str_overridden="a,,b"), "ps_str_overridden"),
])
def test_config_names_the_bad_field(kwargs, field):
    full = {"num_workers": 2, "index": 0, **kwargs}
    with pytest.raises(ValueError, match=field):
        BenchmarkConfig(**full)


def test_published_list_is_read_by_waiting_workers(tmp_path):
    out = tmp_path / "sub" / "selected"
    publish(out, ["b:1", "c:1"])
    assert out.read_text() == "b:1,c:1\n"
    assert [p.name for p in out.parent.iterdir()] == ["selected"]
    assert wait_published(out, timeout_s=1.0) == ["b:1", "c:1"]


def test_a_waiting_worker_sees_a_list_published_later(tmp_path):
    out = tmp_path / "selected"
    timer = threading.Timer(0.2, publish, args=(out, ["x:1"]))
    timer.start()
    try:
        assert wait_published(out, timeout_s=5.0, poll_s=0.05) == ["x:1"]
    finally:
        timer.join()


def test_waiting_gives_up_after_the_timeout(tmp_path):
    with pytest.raises(BenchmarkError, match="no PS list published"):
        wait_published(tmp_path / "never", timeout_s=0.1, poll_s=0.02)
