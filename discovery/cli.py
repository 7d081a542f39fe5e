"""Command-line flags that choose and configure a discovery backend (shared by every role's CLI)."""

from __future__ import annotations

import argparse

from discovery.base import DiscoveryType
from discovery.consul import ConsulConfig
from discovery.factory import DiscoveryConfig
from discovery.file import FileConfig
from discovery.zk_utils import ZKConfig


def add_discovery_args(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    group = parser.add_argument_group("discovery")
    group.add_argument("--discovery", choices=[t.value for t in DiscoveryType], default=default,
                       help="how roles find each other (default: none for ps-server)")
    group.add_argument("--discovery-dir", help="file backend: base directory (<dir>/<role>/<index>)")
    group.add_argument("--zk-servers", help="zk backend: host:port[,host:port...]")
    group.add_argument("--zk-job", help="zk backend: job name (nodes under /monolith/<job>)")
    group.add_argument("--consul-id", help="consul backend: service name shared by the job")
    group.add_argument("--consul-host", help="consul backend: agent host (default 127.0.0.1)")
    group.add_argument("--consul-port", type=int, help="consul backend: agent port (default 8500)")


def discovery_config(args: argparse.Namespace) -> DiscoveryConfig | None:
    """The DiscoveryConfig the flags describe, or None without ``--discovery``.

    Raises ValueError naming the missing flag when a backend's settings are incomplete.
    """
    if not args.discovery:
        return None
    kind = DiscoveryType.parse(args.discovery)
    if kind is DiscoveryType.FILE:
        if not args.discovery_dir:
            raise ValueError("--discovery file needs --discovery-dir")
        return DiscoveryConfig(kind, file=FileConfig(args.discovery_dir))
    if kind is DiscoveryType.ZK:
        if not args.zk_servers or not args.zk_job:
            raise ValueError("--discovery zk needs --zk-servers and --zk-job")
        return DiscoveryConfig(kind, zk=ZKConfig(job_name=args.zk_job, servers=args.zk_servers))
    if kind is DiscoveryType.CONSUL:
        if not args.consul_id:
            raise ValueError("--discovery consul needs --consul-id")
        return DiscoveryConfig(kind, consul=ConsulConfig(
            consul_id=args.consul_id, host=args.consul_host, port=args.consul_port))
    return DiscoveryConfig(kind)


def discovery_argv(args: argparse.Namespace) -> list[str]:
    """The same flags again, to hand the choice on to a child process."""
    out: list[str] = []
    for flag in ("discovery", "discovery_dir", "zk_servers", "zk_job", "consul_id",
                 "consul_host", "consul_port"):
        value = getattr(args, flag, None)
        if value is not None:
            out += [f"--{flag.replace('_', '-')}", str(value)]
    return out
