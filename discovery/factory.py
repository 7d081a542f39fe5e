"""Builds the discovery backend a process's config names."""

from __future__ import annotations

from dataclasses import dataclass

from discovery.base import DiscoveryType, ServiceDiscovery
from discovery.consul import ConsulConfig, ConsulServiceDiscovery
from discovery.file import FileConfig, FileServiceDiscovery
from discovery.mlp import MLPServiceDiscovery
from discovery.tf_config import TfConfigServiceDiscovery
from discovery.zk import ZKServiceDiscovery
from discovery.zk_utils import ZKConfig


@dataclass(frozen=True)
class DiscoveryConfig:
    """Backend choice plus that backend's settings.

    ``file`` is required for FILE, ``zk`` for ZK, ``consul`` for CONSUL.
    ``tf_config`` (JSON) defaults to the ``TF_CONFIG`` env var; MLP reads ``MLP_*``.
    """

    type: DiscoveryType = DiscoveryType.FILE
    file: FileConfig | None = None
    zk: ZKConfig | None = None
    consul: ConsulConfig | None = None
    tf_config: str | None = None

    def __post_init__(self):
        if self.type not in tuple(DiscoveryType):
            allowed = ", ".join(f"DiscoveryType.{t.name}" for t in DiscoveryType)
            raise ValueError(f"type must be one of {allowed} (use DiscoveryType.parse for "
                             f"strings), got {self.type!r}")
        required = {DiscoveryType.FILE: ("file", FileConfig), DiscoveryType.ZK: ("zk", ZKConfig),
                    DiscoveryType.CONSUL: ("consul", ConsulConfig)}.get(self.type)
        if required is not None:
            field, cls = required
            if not isinstance(getattr(self, field), cls):
                raise ValueError(f"{field} must be a {cls.__name__} when type is "
                                 f"{self.type.value}, got {getattr(self, field)!r}")


def create_discovery(config: DiscoveryConfig) -> ServiceDiscovery:
    """The backend for ``config.type``; close it (or use ``with``) when done."""
    if config.type is DiscoveryType.FILE:
        return FileServiceDiscovery(config.file)
    if config.type is DiscoveryType.TF_CONFIG:
        return TfConfigServiceDiscovery(config.tf_config)
    if config.type is DiscoveryType.MLP:
        return MLPServiceDiscovery()
    if config.type is DiscoveryType.ZK:
        return ZKServiceDiscovery(config.zk)
    return ConsulServiceDiscovery(config.consul)
