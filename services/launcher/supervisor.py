"""Child processes of one launcher: started with their env and log file, watched, stopped by PID.

Children run in their own session, so a Ctrl-C in the terminal reaches only the
launcher, which then stops them in order: SIGTERM by PID, SIGKILL after the grace
period, and at once for the rest if a second signal arrives while stopping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_TAIL_BYTES = 64 << 10


@dataclass
class Child:
    """One started process: its role, index, PID and log file."""

    role: str
    index: int
    proc: subprocess.Popen
    log_path: Path
    argv: list[str]
    started_at: float = field(default_factory=time.time)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    restarts: int = 0
    address: str | None = None

    @property
    def name(self) -> str:
        return f"{self.role} {self.index}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def error_line(self) -> str | None:
        return error_line(self.log_path)


class Supervisor:
    """Starts children and stops every one of them; use as a context manager.

    Inside ``with``, SIGINT, SIGTERM and SIGHUP no longer end the launcher: they
    are recorded in ``stop_signal`` for the caller's loop to act on. Leaving the
    block stops every child still running and restores the previous handlers.
    """

    def __init__(self, grace_s: float = 5.0, poll_interval_s: float = 0.1):
        self.grace_s = grace_s
        self.poll_interval_s = poll_interval_s
        self.children: list[Child] = []
        self.stop_signal: int | None = None
        self._signal_count = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Supervisor:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop(self.children)
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()

    def _on_signal(self, signum, frame) -> None:
        self._signal_count += 1
        if self.stop_signal is None:
            self.stop_signal = signum

    def start(self, role: str, index: int, argv: list[str], *, env: dict[str, str],
              log_path: Path) -> Child:
        """Starts ``argv`` with exactly ``env``, stdout and stderr going to ``log_path``."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        child = Child(role, index, _popen(argv, env, log_path, "wb"), log_path, list(argv),
                      env=dict(env))
        self.children.append(child)
        return child

    def restart(self, child: Child) -> Child:
        """Starts a dead child again with the same argv and env; its log continues."""
        if child.poll() is None:
            raise RuntimeError(f"{child.name} is still running")
        child.proc = _popen(child.argv, child.env, child.log_path, "ab")
        child.restarts += 1
        child.started_at = time.time()
        return child

    def running(self) -> list[Child]:
        return [c for c in self.children if c.poll() is None]

    def sleep(self) -> None:
        """Waits one poll interval (a signal only records itself, so callers check after)."""
        time.sleep(self.poll_interval_s)

    def stop(self, children: list[Child]) -> dict[str, int]:
        """SIGTERM to each running child by PID, SIGKILL to those alive after the grace period.

        Returns the exit code of every child in ``children`` (negative: killed by that signal).
        """
        signals_before = self._signal_count
        for child in children:
            _send(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while any(c.poll() is None for c in children):
            if time.monotonic() >= deadline or self._signal_count > signals_before:
                break
            time.sleep(min(0.05, self.poll_interval_s))
        for child in children:
            _send(child, signal.SIGKILL)
        for child in children:
            child.proc.wait()
        return {c.name: c.proc.returncode for c in children}

    def manifest(self) -> list[dict]:
        """Role, index, PID, log path and argv of every child started so far."""
        return [{"role": c.role, "index": c.index, "pid": c.pid, "log": str(c.log_path),
                 "argv": c.argv, "started_at": c.started_at, "restarts": c.restarts}
                for c in self.children]


def _popen(argv: list[str], env: dict[str, str], log_path: Path, mode: str) -> subprocess.Popen:
    with open(log_path, mode) as log:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _send(child: Child, sig: int) -> None:
    if child.poll() is None:
        try:
            child.proc.send_signal(sig)
        except ProcessLookupError:
            pass


def error_line(log_path: Path) -> str | None:
    """The line of a log that best says why its process failed, or None.

    That is the last error record of a JSON log (its message, plus the last
    line of its traceback), else the last non-empty plain line, which for an
    uncaught exception is Python's ``Type: message`` line.
    """
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line:
            continue
        record = _json_record(line)
        if record is None:
            return line
        if str(record.get("level", "")).lower() in ("error", "critical", "fatal"):
            message = str(record.get("msg", record.get("message", ""))).strip()
            exc_lines = str(record.get("exc", "")).strip().splitlines()
            if exc_lines and exc_lines[-1].strip() not in message:
                message = f"{message}: {exc_lines[-1].strip()}" if message else exc_lines[-1]
            return message or line
    return None


def _json_record(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None
