"""WorkerTable: the global step (async sum, sync max, plus the base), liveness, bad indices."""

import pytest

from services.controller.workers import WorkerTable
from services.errors import InvalidArgument


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_async_global_step_is_base_plus_sum():
    table = WorkerTable(3, base_step=1000, clock=Clock())
    assert table.global_step == 1000
    table.report(0, 5, finished=False, sync=False)
    table.report(2, 7, finished=False, sync=False)
    assert table.global_step == 1012
    table.report(0, 9, finished=False, sync=False)
    assert table.global_step == 1016


def test_sync_global_step_is_base_plus_max():
    table = WorkerTable(3, base_step=50, clock=Clock())
    table.report(0, 4, finished=False, sync=True)
    table.report(1, 6, finished=False, sync=True)
    table.report(2, 5, finished=False, sync=True)
    assert table.global_step == 56


def test_alive_and_timeout_with_an_injected_clock():
    clock = Clock()
    table = WorkerTable(2, timeout_s=10.0, clock=clock)
    assert not table.alive(0) and table.since_report(0) == -1.0
    table.report(0, 1, finished=False, sync=False)
    clock.now += 10.0
    assert table.alive(0) and table.since_report(0) == 10.0
    clock.now += 0.5
    assert not table.alive(0)
    table.report(0, 2, finished=False, sync=False)
    assert table.alive(0)
    assert not table.finished
    table.report(0, 3, finished=True, sync=False)
    assert not table.alive(0) and not table.finished
    table.report(1, 3, finished=True, sync=False)
    assert table.finished


@pytest.mark.parametrize("index", [-1, 2, 10])
def test_bad_index_is_invalid_argument(index):
    table = WorkerTable(2, clock=Clock())
    with pytest.raises(InvalidArgument, match=f"worker_index {index} is outside 0..1"):
        table.report(index, 1, finished=False, sync=False)
    assert table.global_step == 0


def test_negative_step_is_invalid_argument():
    table = WorkerTable(1, clock=Clock())
    with pytest.raises(InvalidArgument, match="step must be >= 0, got -3"):
        table.report(0, -3, finished=False, sync=False)
    assert table.workers[0].reported_at is None
