"""The one-line progress bar shown while training, on a terminal only."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from services.launcher.records import TrainingProgress


def format_count(n: float) -> str:
    """12 -> '12', 12_300 -> '12.3k', 999_936 -> '1M', 4_560_000 -> '4.56M'."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit * 0.9995:  # what rounds to 1000 of a unit is 1 of the next
            return f"{n / limit:.3g}{suffix}"
    return f"{n:.0f}" if float(n).is_integer() else f"{n:.3g}"


def render_line(progress: TrainingProgress, total: int | None, width: int = 100) -> str:
    """The bar as text: ``[####....] 120/400 steps  55 steps/s  14k ex/s  loss 0.52  auc 0.71``."""
    done = progress.steps
    parts = [f"{done}/{total} steps" if total else f"{done} steps"]
    rates = progress.rates()
    if rates is not None:
        parts.append(f"{format_count(rates[0])} steps/s")
        parts.append(f"{format_count(rates[1])} ex/s")
    if progress.last_loss is not None:
        parts.append(f"loss {progress.last_loss:.4f}")
    if progress.last_auc is not None:
        parts.append(f"auc {progress.last_auc:.4f}")
    text = "  ".join(parts)
    bar_width = min(30, width - len(text) - 3)
    if total and bar_width >= 5:
        filled = round(bar_width * min(done, total) / total)
        text = f"[{'#' * filled}{'.' * (bar_width - filled)}] {text}"
    return text[:width]


class ProgressBar:
    """Redraws one line in place on a TTY; writes nothing when ``stream`` is not a terminal."""

    def __init__(self, total: int | None, stream: TextIO | None = None,
                 min_interval_s: float = 0.2):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval_s = min_interval_s
        self._last_draw = 0.0
        self._drawn = False

    def status(self, text: str) -> None:
        """Shows a short message (e.g. while waiting for the PS) in the bar's place."""
        self._draw(text)

    def update(self, progress: TrainingProgress, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval_s:
            return
        self._last_draw = now
        width = self._columns() - 1
        self._draw(render_line(progress, self.total, width))

    def close(self) -> None:
        """Ends the bar's line so later output starts on a fresh one."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 100
        except (AttributeError, OSError, ValueError):
            return 100

    def _draw(self, text: str) -> None:
        if not self.enabled:
            return
        self.stream.write(f"\r\x1b[2K{text}")
        self.stream.flush()
        self._drawn = True
