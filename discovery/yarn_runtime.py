"""YARN / Primus runtime: this host's address, and the Primus AppMaster controls.

The AppMaster (``PRIMUS_AM_RPC_HOST`` / ``PRIMUS_AM_RPC_PORT``) can kill the
application (exit code 1 with a reason), finish it successfully, or take a
savepoint. Outside Primus (variables unset) the ``maybe_*`` helpers do nothing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import grpc

from discovery import primus_pb
from discovery.net import get_local_ip

log = logging.getLogger(__name__)


def get_local_host(environ: Mapping[str, str] | None = None) -> str:
    """This container's IP: ``CLOUDNATIVE_INET_ADDR`` (first of a comma list), else
    ``YARN_INET_ADDR``, else the host name's address."""
    env = os.environ if environ is None else environ
    if env.get("CLOUDNATIVE_INET_ADDR"):
        host = env["CLOUDNATIVE_INET_ADDR"].split(",")[0].strip()
    elif env.get("YARN_INET_ADDR"):
        host = env["YARN_INET_ADDR"].strip()
    else:
        host = get_local_ip()
    if not host:
        raise ValueError("could not determine the local host address")
    return host


@dataclass(frozen=True)
class PrimusConfig:
    """How to reach the AppMaster and how long to wait for it."""

    am_addr: str
    rpc_timeout_s: float = 10.0
    graceful_shutdown_timeout_s: float = 20.0
    savepoint_poll_interval_s: float = 5.0

    def __post_init__(self):
        if not isinstance(self.am_addr, str) or not self.am_addr:
            raise ValueError(f"am_addr must be a non-empty 'host:port', got {self.am_addr!r}")
        for field in ("rpc_timeout_s", "savepoint_poll_interval_s"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be > 0, got {getattr(self, field)}")
        if self.graceful_shutdown_timeout_s < 0:
            raise ValueError(
                f"graceful_shutdown_timeout_s must be >= 0, got {self.graceful_shutdown_timeout_s}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PrimusConfig | None:
        """The AppMaster from ``PRIMUS_AM_RPC_HOST``/``PORT``; ``None`` when not under Primus."""
        env = os.environ if environ is None else environ
        host, port = env.get("PRIMUS_AM_RPC_HOST"), env.get("PRIMUS_AM_RPC_PORT")
        if not host or not port:
            return None
        return cls(am_addr=f"{host}:{port}")


class PrimusClient:
    """One channel to the AppMaster; each call returns whether the AppMaster accepted it."""

    def __init__(self, config: PrimusConfig):
        self._config = config
        self._channel = grpc.insecure_channel(config.am_addr)
        self._calls = {
            method: self._channel.unary_unary(
                primus_pb.method_path(method),
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString)
            for method, (request, response) in primus_pb.METHODS.items()}

    def _grace_ms(self) -> int:
        return int(self._config.graceful_shutdown_timeout_s * 1000)

    def kill(self, reason: str) -> bool:
        """Asks the AppMaster to fail the application with exit code 1 and ``reason``."""
        request = primus_pb.KillRequest(exit_code=1, diagnose=reason,
                                        graceful_shutdown_timeout_ms=self._grace_ms())
        try:
            self._calls["kill"](request, timeout=self._config.rpc_timeout_s)
        except grpc.RpcError as err:
            log.error("primus kill failed: %s", err)
            return False
        return True

    def succeed(self) -> bool:
        """Asks the AppMaster to finish the application successfully."""
        request = primus_pb.SucceedRequest(graceful_shutdown_timeout_ms=self._grace_ms())
        try:
            self._calls["succeed"](request, timeout=self._config.rpc_timeout_s)
        except grpc.RpcError as err:
            log.error("primus succeed failed: %s", err)
            return False
        return True

    def create_savepoint(self, dst: str) -> bool:
        """Starts a savepoint into ``dst`` and polls its status until it settles.

        True once SUCCEEDED; False if the AppMaster refuses it (nonzero code),
        reports any other final state, or cannot be reached.
        """
        timeout_s = self._config.rpc_timeout_s
        try:
            reply = self._calls["createSavepoint"](
                primus_pb.CreateSavepointRequest(savepoint_dir=dst), timeout=timeout_s)
            if reply.code != 0:
                log.error("primus refused savepoint to %s: code %d, %s", dst, reply.code,
                          reply.message)
                return False
            status_request = primus_pb.CreateSavepointStatusRequest(savepoint_id=reply.savepoint_id)
            while True:
                status = self._calls["createSavepointStatus"](status_request, timeout=timeout_s)
                state = status.create_savepoint_state
                if state in (primus_pb.PENDING, primus_pb.RUNNING):
                    time.sleep(self._config.savepoint_poll_interval_s)
                    continue
                if state == primus_pb.SUCCEEDED:
                    log.info("primus savepoint to %s succeeded", dst)
                    return True
                log.error("primus savepoint to %s ended in state %d: %s", dst, state,
                          status.message)
                return False
        except grpc.RpcError as err:
            log.error("primus savepoint to %s failed: %s", dst, err)
            return False

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def maybe_kill_application(reason: str, environ: Mapping[str, str] | None = None) -> bool:
    """Kills the application through Primus if running under it; False otherwise or on error."""
    config = PrimusConfig.from_env(environ)
    if config is None:
        log.info("Current framework doesn't support kill. Ignore killing...")
        return False
    with PrimusClient(config) as client:
        return client.kill(reason)


def maybe_finish_application(environ: Mapping[str, str] | None = None) -> bool | None:
    """Finishes the application through Primus; None when not under Primus."""
    config = PrimusConfig.from_env(environ)
    if config is None:
        return None
    with PrimusClient(config) as client:
        return client.succeed()


def create_primus_save_point(dst: str, environ: Mapping[str, str] | None = None) -> bool | None:
    """Takes a Primus savepoint into ``dst``; None when not under Primus."""
    config = PrimusConfig.from_env(environ)
    if config is None:
        return None
    with PrimusClient(config) as client:
        return client.create_savepoint(dst)
