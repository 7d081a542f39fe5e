"""A real standalone ZooKeeper server for tests, from the system package (Debian ``zookeeper``).

Launched as ``java -cp /usr/share/java/zookeeper.jar
org.apache.zookeeper.server.ZooKeeperServerMain <zoo.cfg>`` on a free 127.0.0.1
port with its own data dir and the admin server off; ready when the ``srvr``
four-letter word reports it serving; stopped by PID. ``ZOOKEEPER_CLASSPATH`` overrides the
jar list. Short ticks (200 ms) allow sessions of 0.4-4 s so expiry tests are quick.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.procs import free_port

_JARS = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar")


def zookeeper_classpath() -> str | None:
    """The server's classpath, or None when java or the ZooKeeper jar is missing."""
    if os.environ.get("ZOOKEEPER_CLASSPATH"):
        return os.environ["ZOOKEEPER_CLASSPATH"]
    if shutil.which("java") is None or not Path(_JARS[0]).exists():
        return None
    return ":".join(jar for jar in _JARS if Path(jar).exists())


def four_letter(address: str, word: bytes, timeout_s: float = 1.0) -> bytes:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(word)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


class ZooKeeperServer:
    """One server process; ``start``/``stop``/``restart`` keep the port (and data, unless wiped)."""

    def __init__(self, workdir: Path, tick_ms: int = 200):
        classpath = zookeeper_classpath()
        if classpath is None:
            raise RuntimeError("ZooKeeper not found: install the Debian 'zookeeper' package "
                               "(and a JRE) or set ZOOKEEPER_CLASSPATH")
        self.classpath = classpath
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "zookeeper.log"
        self.port = free_port()
        self.tick_ms = tick_ms
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "zoo.cfg"
        config.write_text("\n".join([
            f"tickTime={self.tick_ms}",
            f"dataDir={self.data_dir}",
            f"clientPort={self.port}",
            "clientPortAddress=127.0.0.1",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,mntr",
            "maxClientCnxns=0",
            "",
        ]))
        return config

    def start(self, timeout_s: float = 30.0) -> None:
        config = self._write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                 "-Dzookeeper.admin.enableServer=false", "-cp", self.classpath,
                 "org.apache.zookeeper.server.ZooKeeperServerMain", str(config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"zookeeper exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.serving():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"zookeeper on {self.address} not ready in {timeout_s} s:\n{self.log()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM by PID, SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        """Stops and starts again on the same port and data dir; sessions survive (as in ZooKeeper)."""
        self.stop()
        self.start()

    def restart_after_sessions_expire(self, timeout_s: float = 60.0) -> None:
        """A long outage: every client session expires before the server is back.

        Stops the server, runs it from the same data dir on a spare port that no
        client knows until it reports no sessions left (ZooKeeper expires the
        restored sessions and their ephemeral nodes), then starts it again on its
        own port. Clients then reconnect to a server that has lost their sessions.
        """
        self.stop()
        own_port, self.port = self.port, free_port()
        try:
            self.start()
            deadline = time.monotonic() + timeout_s
            while self.global_sessions() > 0:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"sessions did not expire within {timeout_s} s")
                time.sleep(0.1)
            self.stop()
        finally:
            self.port = own_port
        self.start()

    def serving(self) -> bool:
        """True once the server answers requests (``ruok`` alone answers earlier than that)."""
        return four_letter(self.address, b"srvr").startswith(b"Zookeeper version")

    def global_sessions(self) -> int:
        """Live sessions the server tracks, from the ``mntr`` four-letter word."""
        for line in four_letter(self.address, b"mntr").decode().splitlines():
            key, _, value = line.partition("\t")
            if key == "zk_global_sessions":
                return int(value)
        raise RuntimeError("mntr did not report zk_global_sessions")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
