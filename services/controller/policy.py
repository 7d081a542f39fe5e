"""When the controller saves: every N steps and/or seconds, tide-aware, first save skipped.

Monolith's ``SecondOrStepTimerWithTideSetting`` and ``NoFirstSaveCheckpointSaverHook``:
a save triggers when ``every_steps`` global steps or ``every_secs`` seconds
passed since the last one. Outside the tide window the seconds interval becomes
``tide_every_secs``. With ``no_first_save`` the run does not save at its
starting step, only once it has moved on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.tide import TideWindow


@dataclass(frozen=True)
class SavePolicy:
    every_steps: int = 0
    every_secs: float = 0.0
    tide: TideWindow | None = None
    tide_every_secs: float = 0.0
    no_first_save: bool = True
    max_to_keep: int = 5
    keep_checkpoint_every_n_hours: float = 0.0
    retries: int = 2

    def __post_init__(self):
        for name in ("every_steps", "every_secs", "tide_every_secs", "max_to_keep",
                     "keep_checkpoint_every_n_hours", "retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class SaveTimer:
    """Decides, from the global step and the clock, whether a periodic save is due."""

    def __init__(self, policy: SavePolicy, start_step: int, now: float):
        self.policy = policy
        self.last_step: int | None = start_step if policy.no_first_save else None
        self.last_time: float | None = now if policy.no_first_save else None

    def every_secs(self, now_utc: dt.datetime | None = None) -> float:
        p = self.policy
        if p.tide is not None and p.tide_every_secs > 0 and not p.tide.available(now_utc):
            return p.tide_every_secs
        return p.every_secs

    def due(self, step: int, now: float, now_utc: dt.datetime | None = None) -> bool:
        if self.last_step is None:
            return True
        if step == self.last_step:
            return False
        p = self.policy
        if p.every_steps and step >= self.last_step + p.every_steps:
            return True
        secs = self.every_secs(now_utc)
        return bool(secs) and now >= self.last_time + secs

    def saved(self, step: int, now: float) -> None:
        self.last_step, self.last_time = step, now
