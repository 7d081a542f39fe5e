"""Builds, starts and stops the controller process: gRPC, health, metrics, discovery, saves.

On start it reads the model dir's newest whole checkpoint (the run's base
step), writes ``<model_dir>/controller_addr`` atomically and registers as
``controller`` 0. A background task takes the periodic saves of the policy and
a final save once every worker reported finished.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from discovery.factory import DiscoveryConfig
from services import checkpoints
from services.controller import ADDR_FILE
from services.controller.barrier import Barrier
from services.controller.policy import SavePolicy, SaveTimer
from services.controller.saver import CheckpointSaver, SavedCheckpoint
from services.controller.service import SERVICE_NAME, ControllerService
from services.controller.workers import WorkerTable
from services.endpoint import Endpoint
from services.errors import FailedPrecondition
from services.files import write_text_atomic
from services.interceptor import RpcMetrics, StatusInterceptor
from services.metrics import metric_prefix
from services.pb import controller_pb2_grpc
from services.security import SecurityConfig, server_interceptors

log = logging.getLogger(__name__)


_TICK_S = 0.2


@dataclass(frozen=True)
class ControllerConfig:
    model_dir: Path
    num_ps: int
    num_workers: int
    host: str = "127.0.0.1"
    port: int = 0
    advertise_addr: str | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    policy: SavePolicy = SavePolicy()
    worker_timeout_s: float = 60.0
    ps_wait_s: float = 30.0
    discovery: DiscoveryConfig | None = None
    security: SecurityConfig | None = None
    tables_path: str | None = None
    grace_s: float = 5.0
    restore_dir: Path | None = None
    restore_ckpt: str | None = None

    def __post_init__(self):
        if self.num_ps < 1:
            raise ValueError(f"num_ps must be >= 1, got {self.num_ps}")
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {self.num_workers}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry, prefix: str):
        self.saves = Counter(f"{prefix}_controller_checkpoint_saves",
                             "Checkpoint save attempts, by outcome", ["outcome"], registry=registry)
        self.save_seconds = Histogram(f"{prefix}_controller_checkpoint_save_seconds",
                                      "Time from save request to commit", registry=registry,
                                      buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
        self.global_step = Gauge(f"{prefix}_controller_global_step", "Global training step",
                                 registry=registry)
        self.last_checkpoint_step = Gauge(f"{prefix}_controller_last_checkpoint_step",
                                          "Step of the newest committed checkpoint",
                                          registry=registry)


class ControllerServer:
    def __init__(self, config: ControllerConfig, registry: CollectorRegistry | None = None):
        self.config = config
        self.registry = registry or CollectorRegistry()
        prefix = metric_prefix()
        self.metrics = ControllerMetrics(self.registry, prefix)
        if config.restore_dir is not None:
            checkpoints.restore_once(config.model_dir, config.restore_dir, config.restore_ckpt)
        latest = checkpoints.latest_valid(config.model_dir)
        base = checkpoints.step_of(latest) if latest is not None else 0
        self.workers = WorkerTable(config.num_workers, base, config.worker_timeout_s)
        self.barrier = Barrier()
        tables_json = Path(config.tables_path).read_text() if config.tables_path else ""
        self.saver = CheckpointSaver(config.model_dir, self._ps_addresses, config.policy,
                                     tables_json, config.security, self.metrics)
        if latest is not None:
            self.saver.last = SavedCheckpoint(latest, base, 0, 0.0)
            self.metrics.last_checkpoint_step.set(base)
        self.metrics.global_step.set(base)
        self.timer = SaveTimer(config.policy, base, time.monotonic())
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server(interceptors=[
            StatusInterceptor(RpcMetrics(self.registry, prefix, "controller")),
            *server_interceptors(config.security)])
        controller_pb2_grpc.add_ControllerServicer_to_server(
            ControllerService(self.workers, self.barrier, self.saver, config.num_ps, self.metrics),
            self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], self.server)
        self.endpoint = Endpoint(
            self.server, self.health, self.registry, "controller", 0, host=config.host,
            port=config.port, advertise_addr=config.advertise_addr, security=config.security,
            metrics_port=config.metrics_port, metrics_host=config.metrics_host,
            discovery=config.discovery)
        self._task: asyncio.Task | None = None

    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def address(self) -> str:
        return self.endpoint.address

    async def _ps_addresses(self) -> list[str]:
        """PS 0..N-1 from discovery; FAILED_PRECONDITION naming the missing ones after a wait."""
        if self.endpoint.discovery is None:
            raise FailedPrecondition("the controller has no discovery backend to find the PS")
        n = self.config.num_ps
        deadline = time.monotonic() + self.config.ps_wait_s
        while True:
            found = await asyncio.to_thread(self.endpoint.discovery.query, "ps")
            if all(i in found for i in range(n)):
                return [found[i] for i in range(n)]
            if time.monotonic() > deadline:
                missing = [i for i in range(n) if i not in found]
                raise FailedPrecondition(f"PS {missing} of {n} are not registered in discovery")
            await asyncio.sleep(0.2)

    async def start(self) -> int:
        cfg = self.config
        await self.endpoint.open([SERVICE_NAME])
        await asyncio.to_thread(write_text_atomic, Path(cfg.model_dir) / ADDR_FILE,
                                self.address + "\n")
        self._task = asyncio.create_task(self._save_loop())
        log.info("serving", extra={"port": self.port, "address": self.address,
                                   "base_step": self.workers.base_step,
                                   "num_ps": cfg.num_ps, "num_workers": cfg.num_workers})
        return self.port

    async def _save_loop(self) -> None:
        final_done = False
        while True:
            await asyncio.sleep(_TICK_S)
            if self.saver.running:
                continue
            step = self.workers.global_step
            reported = any(w.reported_at is not None for w in self.workers.workers)
            final = self.workers.finished and not final_done
            if not reported or not (final or self.timer.due(step, time.monotonic())):
                continue
            try:
                await self.saver.save(step)
                self.timer.saved(step, time.monotonic())
                final_done = final_done or final
            except Exception as exc:
                log.warning("periodic save failed", extra={"step": step, "error": str(exc)})
                self.timer.saved(step, time.monotonic())

    async def stop(self, grace_s: float | None = None) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self.endpoint.close(self.config.grace_s if grace_s is None else grace_s)
        log.info("stopped")
