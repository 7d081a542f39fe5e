"""Settings of one PS process (CLI flags map one-to-one onto these fields)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from discovery.factory import DiscoveryConfig
from services.security import SecurityConfig


@dataclass(frozen=True)
class ServerConfig:
    tables_path: str
    port: int = 0
    host: str = "127.0.0.1"
    shard: int = 0
    num_shards: int = 1
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    threads: int = max(2, os.cpu_count() or 2)
    grace_s: float = 10.0
    max_message_bytes: int = 1 << 30
    max_ids_per_table: int = 1 << 24
    log_level: str = "INFO"
    discovery: DiscoveryConfig | None = None
    advertise_addr: str | None = None
    security: SecurityConfig | None = None
    model_dir: str | None = None
    restore_dir: str | None = None
    restore_ckpt: str | None = None

    def __post_init__(self):
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {self.num_shards}")
        if not 0 <= self.shard < self.num_shards:
            raise ValueError(f"shard must be in 0..{self.num_shards - 1}, got {self.shard}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be in 0..65535, got {self.metrics_port}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {self.grace_s}")
        if self.max_message_bytes < 1 << 20:
            raise ValueError(f"max_message_bytes must be >= 1 MiB, got {self.max_message_bytes}")
        if self.max_ids_per_table < 1:
            raise ValueError(f"max_ids_per_table must be >= 1, got {self.max_ids_per_table}")
