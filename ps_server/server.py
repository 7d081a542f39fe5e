"""Builds, starts and stops one PS process: tables, gRPC server, health, reflection, metrics."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from ps_server import checkpoint_service, diagnostics
from ps_server.checkpoint import ShardSaver, restore_latest
from ps_server.config import TablesConfig
from ps_server.dense import DenseStore
from ps_server.metrics import TableMetrics, TableSizeCollector
from ps_server.server_config import ServerConfig
from ps_server.service import SERVICE_NAME, ParameterServerService
from ps_server.table import EmbeddingTable
from services.checkpoints import restore_once
from services.endpoint import Endpoint
from services.interceptor import RpcMetrics, StatusInterceptor
from services.metrics import metric_prefix
from services.pb import checkpoint_pb2_grpc
from services.security import server_interceptors

log = logging.getLogger(__name__)


class PSServer:
    """One running PS shard. ``start()`` binds and serves; ``stop()`` drains and releases."""

    def __init__(self, config: ServerConfig, tables_config: TablesConfig | None = None,
                 registry: CollectorRegistry | None = None):
        self.config = config
        tables_config = tables_config or TablesConfig.load(config.tables_path)
        self.tables = {t.name: EmbeddingTable(t) for t in tables_config.tables}
        self.dense = DenseStore(tables_config.dense_optimizer)
        self.registry = registry or CollectorRegistry()
        prefix = metric_prefix()
        self.registry.register(TableSizeCollector(self.tables, prefix))
        self.pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="ps-kernel")
        self.service = ParameterServerService(
            self.tables, self.dense, self.pool, shard=config.shard,
            num_shards=config.num_shards, max_ids_per_table=config.max_ids_per_table,
            threads=config.threads, table_metrics=TableMetrics(self.registry, prefix))
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server(
            # StatusInterceptor outermost: rejected tokens are counted like any other status
            interceptors=[StatusInterceptor(RpcMetrics(self.registry, prefix, "ps")),
                          *server_interceptors(config.security)],
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.server.add_generic_rpc_handlers([self.service.handler(), diagnostics.handler()])
        self.saver = ShardSaver(self.tables, self.dense, config.shard, config.num_shards)
        checkpoint_pb2_grpc.add_ShardCheckpointServicer_to_server(
            checkpoint_service.ShardCheckpointService(self.saver, self.pool), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [SERVICE_NAME, diagnostics.SERVICE_NAME, checkpoint_service.SERVICE_NAME,
             health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self.server)
        self.endpoint = Endpoint(
            self.server, self.health, self.registry, "ps", config.shard, host=config.host,
            port=config.port, advertise_addr=config.advertise_addr, security=config.security,
            metrics_port=config.metrics_port, metrics_host=config.metrics_host,
            discovery=config.discovery)
        self.restored_from = None

    def restore(self):
        """Loads this shard from the model dir's newest whole checkpoint, if there is one
        (a fresh PS and a PS restarted after a crash alike: only this shard is touched)."""
        cfg = self.config
        if cfg.model_dir and cfg.restore_dir:
            restore_once(Path(cfg.model_dir), Path(cfg.restore_dir), cfg.restore_ckpt)
        if cfg.model_dir:
            self.restored_from = restore_latest(Path(cfg.model_dir), self.tables, self.dense,
                                                cfg.shard, cfg.num_shards)
        return self.restored_from

    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def address(self) -> str:
        """The address other roles reach this PS at (registered in discovery)."""
        return self.endpoint.address

    async def start(self) -> int:
        cfg = self.config
        await asyncio.get_running_loop().run_in_executor(self.pool, self.restore)
        await self.endpoint.open([SERVICE_NAME])
        metrics = self.endpoint.metrics_server
        log.info("serving", extra={
            "port": self.port, "address": self.address, "shard": cfg.shard, "num_shards": cfg.num_shards,
            "tables": sorted(self.tables),
            "metrics_port": None if metrics is None else metrics.server_port})
        return self.port

    async def stop(self, grace_s: float | None = None) -> None:
        """Stops accepting, lets in-flight RPCs finish within the grace period, releases all."""
        await self.endpoint.close(self.config.grace_s if grace_s is None else grace_s)
        self.pool.shutdown(wait=True)
        log.info("stopped")
