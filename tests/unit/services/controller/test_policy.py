"""SaveTimer: steps, seconds, the tide window, the skipped first save; SavePolicy validation."""

import datetime as dt

import pytest

from services.controller.policy import SavePolicy, SaveTimer
from services.tide import TideWindow


def _utc(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 5, 1, hour, minute, tzinfo=dt.timezone.utc)


def test_no_first_save_skips_the_starting_step():
    timer = SaveTimer(SavePolicy(every_steps=10, no_first_save=True), start_step=100, now=0.0)
    assert not timer.due(100, now=1e6)
    assert not timer.due(109, now=1.0)
    assert timer.due(110, now=1.0)


def test_without_no_first_save_the_first_check_saves():
    timer = SaveTimer(SavePolicy(every_steps=10, no_first_save=False), start_step=100, now=0.0)
    assert timer.due(100, now=0.0)
    timer.saved(100, 0.0)
    assert not timer.due(100, now=0.0)
    assert not timer.due(105, now=0.0)
    assert timer.due(110, now=0.0)


def test_every_steps_counts_from_the_last_save():
    timer = SaveTimer(SavePolicy(every_steps=5), start_step=0, now=0.0)
    assert [s for s in range(0, 12) if timer.due(s, now=0.0)] == [5, 6, 7, 8, 9, 10, 11]
    timer.saved(7, 0.0)
    assert not timer.due(11, now=0.0)
    assert timer.due(12, now=0.0)


def test_every_secs_counts_from_the_last_save_and_never_repeats_a_step():
    timer = SaveTimer(SavePolicy(every_secs=60.0), start_step=0, now=1000.0)
    assert not timer.due(3, now=1059.9)
    assert timer.due(3, now=1060.0)
    timer.saved(3, 1060.0)
    assert not timer.due(4, now=1119.0)
    assert timer.due(4, now=1120.0)
    # time alone never saves the same step twice (training stalled)
    assert not timer.due(3, now=5000.0)


def test_steps_or_seconds_whichever_comes_first():
    timer = SaveTimer(SavePolicy(every_steps=100, every_secs=60.0), start_step=0, now=0.0)
    assert timer.due(100, now=1.0)
    assert timer.due(1, now=60.0)
    assert not timer.due(99, now=59.0)


def test_nothing_configured_never_saves():
    timer = SaveTimer(SavePolicy(), start_step=0, now=0.0)
    assert not any(timer.due(s, now=1e9) for s in (1, 10**6))


def test_outside_the_tide_window_the_tide_interval_applies():
    policy = SavePolicy(every_secs=600.0, tide=TideWindow(8, 0, 20, 0), tide_every_secs=60.0)
    timer = SaveTimer(policy, start_step=0, now=0.0)
    assert timer.every_secs(_utc(12)) == 600.0
    assert timer.every_secs(_utc(8, 0)) == 600.0
    assert timer.every_secs(_utc(19, 59)) == 600.0
    assert timer.every_secs(_utc(20, 0)) == 60.0
    assert timer.every_secs(_utc(7, 59)) == 60.0
    assert not timer.due(1, now=100.0, now_utc=_utc(12))
    assert timer.due(1, now=100.0, now_utc=_utc(23))


def test_a_tide_window_wrapping_midnight():
    policy = SavePolicy(every_secs=3600.0, tide=TideWindow(22, 30, 6, 0), tide_every_secs=300.0)
    timer = SaveTimer(policy, start_step=0, now=0.0)
    inside = [_utc(22, 30), _utc(23, 59), _utc(0, 0), _utc(3), _utc(5, 59)]
    outside = [_utc(6, 0), _utc(12), _utc(22, 29)]
    assert [timer.every_secs(t) for t in inside] == [3600.0] * len(inside)
    assert [timer.every_secs(t) for t in outside] == [300.0] * len(outside)
    assert timer.due(1, now=300.0, now_utc=_utc(12))
    assert not timer.due(1, now=300.0, now_utc=_utc(1))


def test_tide_without_a_tide_interval_keeps_every_secs():
    policy = SavePolicy(every_secs=600.0, tide=TideWindow(8, 0, 20, 0))
    assert SaveTimer(policy, 0, 0.0).every_secs(_utc(23)) == 600.0


@pytest.mark.parametrize("field", ["every_steps", "every_secs", "tide_every_secs", "max_to_keep",
                                   "keep_checkpoint_every_n_hours", "retries"])
def test_negative_values_are_rejected(field):
    with pytest.raises(ValueError, match=f"{field} must be >= 0, got -1"):
        SavePolicy(**{field: -1})


@pytest.mark.parametrize("args, message", [((24, 0, 6, 0), "start_hour"), ((1, 60, 6, 0), "start_minute"),
                                           ((1, 0, -1, 0), "end_hour"), ((1, 0, 6, 99), "end_minute")])
def test_tide_window_out_of_range(args, message):
    with pytest.raises(ValueError, match=message):
        TideWindow(*args)
