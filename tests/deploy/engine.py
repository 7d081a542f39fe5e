"""A private Docker engine for tests: its own socket, data root and exec root, host networking alone.

The daemon runs with ``--bridge none`` and no iptables, IP forwarding or masquerading,
so it leaves the host's networking as it found it; containers run with
``network_mode: host`` and talk over 127.0.0.1. The data root lives in a cache dir
and survives between runs (images, build cache, volumes), so a warm run takes seconds.
Stopped by the PID in its pidfile; its default network namespace mount is removed after.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "monolith-ps-base:bookworm"
DEBIAN_PACKAGES = {"dockerd": "docker.io", "docker-compose": "docker-compose",
                   "mmdebstrap": "mmdebstrap"}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "monolith-ps" / "docker"


def missing_tools() -> list[str]:
    """Debian packages whose commands are not on PATH."""
    return sorted({pkg for cmd, pkg in DEBIAN_PACKAGES.items() if shutil.which(cmd) is None})


def docker_cli() -> str:
    """The Debian package's client when present (matches the engine's API version)."""
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else shutil.which("docker")


class DockerEngine:
    """``with DockerEngine(dir) as engine:`` a running daemon; ``engine.env`` for its clients."""

    def __init__(self, directory: Path, start_timeout_s: float = 60.0):
        self.dir = directory
        self.socket = directory / "docker.sock"
        self.pidfile = directory / "dockerd.pid"
        self.log_path = directory / "dockerd.log"
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self._lock_fd: int | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for docker and docker-compose: this daemon, builds through BuildKit."""
        env = dict(os.environ)
        env.update(DOCKER_HOST=self.host, DOCKER_BUILDKIT="1", COMPOSE_DOCKER_CLI_BUILD="1")
        cli_dir = str(Path(docker_cli()).parent)
        env["PATH"] = os.pathsep.join([cli_dir, env.get("PATH", "")])
        return env

    def docker(self, *args: str, check: bool = True, timeout_s: float = 300.0,
               input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([docker_cli(), "--host", self.host, *args], env=self.env,
                              capture_output=True, check=check, timeout=timeout_s, input=input)

    def __enter__(self) -> DockerEngine:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # one run per cache dir at a time
        try:
            self._stop_leftover()
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._stop()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _start(self) -> None:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                ["dockerd", "--host", self.host, "--data-root", str(self.dir / "data"),
                 "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.pidfile),
                 "--bridge", "none", "--iptables=false", "--ip-forward=false", "--ip-masq=false"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.socket.exists() and self.docker("version", check=False, timeout_s=10).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not answer within {self.start_timeout_s:g} s:\n"
                           f"{self.log_tail()}")

    def _stop(self) -> None:
        pid = self._pidfile_pid()
        if self.proc is not None:
            pid = self.proc.pid
        if pid is not None:
            _terminate(pid, self.proc)
        self.proc = None
        self._unmount_netns()

    def _stop_leftover(self) -> None:
        """A daemon a crashed earlier run of this harness left on this very data root."""
        pid = self._pidfile_pid()
        if pid is None:
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            cmdline = []
        if cmdline and Path(cmdline[0].decode()).name == "dockerd" \
                and str(self.dir / "data").encode() in cmdline:
            _terminate(pid, None)
        self.pidfile.unlink(missing_ok=True)
        self._unmount_netns()

    def _pidfile_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _unmount_netns(self) -> None:
        netns = self.dir / "exec" / "netns" / "default"
        if os.path.ismount(netns):
            subprocess.run(["umount", str(netns)], check=False, capture_output=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def ensure_base_image(self, tag: str = BASE_IMAGE) -> bool:
        """Builds ``tag`` from Debian packages unless the engine has it; True when built now."""
        if self.docker("image", "inspect", tag, check=False).returncode == 0:
            return False
        env = self.env
        env["DOCKER"] = f"{docker_cli()} --host {self.host}"
        subprocess.run([str(ROOT / "docker" / "base-image.sh"), tag], env=env, check=True,
                       capture_output=True, timeout=900)
        return True


def _terminate(pid: int, proc: subprocess.Popen | None, timeout_s: float = 30.0) -> None:
    """SIGTERM, wait, then SIGKILL: dockerd stops its containers and containerd first."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(timeout=10)
