"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

_WIDTH = 30


class Progress:
    """Measured seconds done out of ``total_s``, with the current phase's label."""

    def __init__(self, total_s: float, stream: TextIO | None = None,
                 enabled: bool | None = None):
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._total_s = max(total_s, 1e-9)
        self._done_s = 0.0
        self._label = ""
        self._phase_s = 0.0

    def phase(self, label: str) -> None:
        """Starts a phase; the previous one counts as complete."""
        self._done_s += self._phase_s
        self._phase_s = 0.0
        self._label = label
        self._draw()

    def tick(self, elapsed_s: float) -> None:
        """Seconds measured so far in the current phase."""
        self._phase_s = elapsed_s
        self._draw()

    def close(self) -> None:
        if self._enabled:
            self._stream.write("\r" + " " * (_WIDTH + 60) + "\r")
            self._stream.flush()

    def _draw(self) -> None:
        if not self._enabled:
            return
        fraction = min(1.0, (self._done_s + self._phase_s) / self._total_s)
        filled = int(fraction * _WIDTH)
        bar = "#" * filled + "." * (_WIDTH - filled)
        self._stream.write(f"\r[{bar}] {fraction * 100:5.1f}%  {self._label[:40]:<40}")
        self._stream.flush()
