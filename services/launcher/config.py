"""Settings of one ``ps-cluster local`` run (CLI flags map one-to-one onto these fields)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from services.security import SecurityConfig

_MODULE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


@dataclass(frozen=True)
class LocalClusterConfig:
    """One PS process per shard and one worker process per index, all on this machine.

    ``model_dir`` holds everything the run writes: config.json, tables.json,
    discovery entries (``ps/<i>``), logs/, progress/, result.json, training.png.
    ``config_path`` is the training config (None: the reference config);
    ``tables_path`` overrides the tables the PS derive from it.
    ``base_port``: PS ``i`` listens on ``base_port + i`` (None: free loopback ports).
    ``metrics_base_port``: PS ``i`` exports metrics on ``metrics_base_port + i``.
    ``ready_timeout_s``: how long every PS gets to register and report SERVING.
    ``grace_s``: how long a process gets between SIGTERM and SIGKILL.
    ``discovery_argv``: discovery flags handed to every process (empty: file
    discovery under ``model_dir``).
    ``timeout_s``: wall-clock limit of the whole run (None: none).
    ``security``: TLS and token of the PS (server side) and workers (client side).
    """

    num_ps: int
    num_workers: int
    model_dir: Path
    config_path: Path | None = None
    tables_path: Path | None = None
    base_port: int | None = None
    metrics_base_port: int | None = None
    ready_timeout_s: float = 120.0
    grace_s: float = 5.0
    timeout_s: float | None = None
    poll_interval_s: float = 0.1
    ps_module: str = "ps_server"
    worker_module: str = "worker"
    controller_module: str = "services.controller"
    discovery_argv: tuple[str, ...] = ()
    security: SecurityConfig | None = None
    save_steps: int = 0
    save_secs: float = 0.0
    max_to_keep: int = 5
    max_restarts: int = 3
    restore_dir: Path | None = None
    restore_ckpt: str | None = None

    def __post_init__(self):
        for name in ("num_ps", "num_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("model_dir", "config_path", "tables_path"):
            value = getattr(self, name)
            if value is not None:
                if not str(value):
                    raise ValueError(f"{name} must be a non-empty path, got {value!r}")
                object.__setattr__(self, name, Path(value).expanduser().resolve())
        if self.model_dir is None:
            raise ValueError("model_dir must be a non-empty path, got None")
        for name in ("config_path", "tables_path"):
            value = getattr(self, name)
            if value is not None and not value.is_file():
                raise ValueError(f"{name} must be an existing file, got {str(value)!r}")
        for name, count in (("base_port", self.num_ps), ("metrics_base_port", self.num_ps)):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 65536 - count:
                raise ValueError(f"{name} must be in 1..{65536 - count} for {count} ps, "
                                 f"got {value}")
        if (self.base_port is not None and self.metrics_base_port is not None
                and abs(self.base_port - self.metrics_base_port) < self.num_ps):
            raise ValueError(f"base_port {self.base_port} and metrics_base_port "
                             f"{self.metrics_base_port} overlap for {self.num_ps} ps")
        for name in ("ready_timeout_s", "poll_interval_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if not (math.isfinite(self.grace_s) and self.grace_s >= 0):
            raise ValueError(f"grace_s must be a finite number >= 0, got {self.grace_s}")
        if self.timeout_s is not None and not (math.isfinite(self.timeout_s)
                                               and self.timeout_s > 0):
            raise ValueError(f"timeout_s must be a finite number > 0, got {self.timeout_s}")
        for name in ("save_steps", "save_secs", "max_to_keep", "max_restarts"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {value}")
        if self.restore_ckpt and self.restore_dir is None:
            raise ValueError("restore_ckpt needs restore_dir")
        if self.restore_dir is not None and not Path(self.restore_dir).is_dir():
            raise ValueError(f"restore_dir must be an existing directory, got "
                             f"{str(self.restore_dir)!r}")
        for name in ("ps_module", "worker_module", "controller_module"):
            value = getattr(self, name)
            parts = value.split(".") if isinstance(value, str) else [""]
            if not all(p and not p[0].isdigit() and set(p) <= _MODULE_CHARS for p in parts):
                raise ValueError(f"{name} must be a dotted module name, got {value!r}")

    @property
    def log_dir(self) -> Path:
        return self.model_dir / "logs"

    @property
    def progress_dir(self) -> Path:
        return self.model_dir / "progress"

    @property
    def train_config_file(self) -> Path:
        return self.model_dir / "config.json"

    @property
    def tables_file(self) -> Path:
        return self.model_dir / "tables.json"

    @property
    def result_file(self) -> Path:
        return self.model_dir / "result.json"

    @property
    def plot_file(self) -> Path:
        return self.model_dir / "training.png"
