"""The tide window (UTC, may wrap midnight) and the loop stopping outside it."""

import datetime as dt

import pytest

from worker.hooks import TideWindow, before, tide_available_now


def _at(hour, minute):
    return dt.datetime(2026, 1, 1, hour, minute, tzinfo=dt.timezone.utc)


def test_before_compares_hour_then_minute():
    assert before(1, 59, 2, 0) and not before(2, 0, 2, 0) and not before(3, 0, 2, 59)


@pytest.mark.parametrize("now,expected", [((9, 0), False), ((10, 0), True), ((15, 59), True),
                                          ((16, 0), False), ((23, 0), False)])
def test_window_within_one_day(now, expected):
    assert tide_available_now(10, 0, 16, 0, _at(*now)) is expected


@pytest.mark.parametrize("now,expected", [((21, 59), False), ((22, 0), True), ((23, 59), True),
                                          ((0, 0), True), ((5, 59), True), ((6, 0), False),
                                          ((12, 0), False)])
def test_window_wrapping_midnight(now, expected):
    assert TideWindow(22, 0, 6, 0).available(_at(*now)) is expected


def test_window_fields_are_validated():
    with pytest.raises(ValueError, match="start_hour"):
        TideWindow(24, 0, 1, 0)
    with pytest.raises(ValueError, match="end_minute"):
        TideWindow(1, 0, 2, 60)


def test_trainer_stops_outside_the_tide_window():
    from worker.config import TrainConfig
    from worker.local_store import LocalStore
    from worker.train import Trainer

    now = dt.datetime.now(dt.timezone.utc)
    closed = {"start_hour": (now.hour + 2) % 24, "start_minute": 0,
              "end_hour": (now.hour + 3) % 24, "end_minute": 0}
    raw = {"data": {"num_slots": 2, "vocab_size": 10, "num_examples": 4096, "block_size": 512},
           "model": {"dim": 2, "hidden_units": [4]},
           "train": {"batch_size": 128, "tide": closed}}
    config = TrainConfig.from_dict(raw)
    stats = Trainer(config, LocalStore(config.tables_json())).run()
    assert stats.steps == 0
    raw["train"].pop("tide")
    config = TrainConfig.from_dict(raw)
    assert Trainer(config, LocalStore(config.tables_json())).run().steps == 32


def test_restore_marker_and_global_step_wait(tmp_path):
    from worker.hooks import mark_restore_done, wait_for_restore, wait_until_global_step

    with pytest.raises(TimeoutError, match="restore.done"):
        wait_for_restore(tmp_path, timeout_s=0.2, poll_s=0.05)
    mark_restore_done(tmp_path)
    wait_for_restore(tmp_path, timeout_s=0.2)
    steps = iter([0, 3, 7, 12])
    assert wait_until_global_step(lambda: next(steps), 10, poll_s=0) == 12
    with pytest.raises(TimeoutError, match="did not reach 5"):
        wait_until_global_step(lambda: 1, 5, timeout_s=0.1, poll_s=0.01)
