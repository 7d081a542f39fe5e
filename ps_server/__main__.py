"""``ps-server``: run one parameter-server shard until SIGTERM."""

from __future__ import annotations

import argparse
import os
import sys

from discovery.cli import add_discovery_args, discovery_config
from ps_server.server_config import ServerConfig
from services.bootstrap import env_int
from services.security import add_security_args, security_config


def parse_args(argv: list[str] | None = None, environ=os.environ) -> ServerConfig:
    """Flags, with MLP_ROLE_INDEX / MLP_PORT / MLP_PS_NUM as defaults (the launch style)."""
    p = argparse.ArgumentParser(prog="ps-server", description=__doc__)
    p.add_argument("--tables", dest="tables_path", required=True,
                   help="JSON file with the table configs (see ps_server/examples/tables.json)")
    p.add_argument("--port", type=int, default=env_int("ps-server", "MLP_PORT", 0, environ),
                   help="gRPC port (0: any free port; default $MLP_PORT)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for all)")
    p.add_argument("--shard", type=int, default=env_int("ps-server", "MLP_ROLE_INDEX", 0, environ),
                   help="this PS's shard index (default $MLP_ROLE_INDEX)")
    p.add_argument("--num-shards", type=int, default=env_int("ps-server", "MLP_PS_NUM", 1, environ),
                   help="number of PS shards (default $MLP_PS_NUM)")
    p.add_argument("--advertise-addr", default=None,
                   help="address registered in discovery (default: host:port)")
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus scrape port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics endpoint")
    p.add_argument("--threads", type=int, default=ServerConfig.threads,
                   help="kernel thread-pool size")
    p.add_argument("--grace-s", type=float, default=10.0,
                   help="seconds in-flight RPCs get to finish on SIGTERM")
    p.add_argument("--max-message-bytes", type=int, default=ServerConfig.max_message_bytes)
    p.add_argument("--max-ids-per-table", type=int, default=ServerConfig.max_ids_per_table)
    p.add_argument("--model-dir", default=None,
                   help="restore this shard from the newest whole checkpoint in DIR on start "
                        "(checkpoints are written here when the controller saves)")
    p.add_argument("--restore-dir", default=None,
                   help="before restoring, copy a checkpoint of this other model dir into "
                        "--model-dir (once per model dir, whichever role comes first)")
    p.add_argument("--restore-ckpt", default=None,
                   help="which checkpoint of --restore-dir, e.g. model.ckpt-30 (default: latest)")
    p.add_argument("--log-level", default="INFO")
    add_discovery_args(p)
    add_security_args(p, "server")
    args = p.parse_args(argv)
    if args.restore_dir and not args.model_dir:
        p.error("--restore-dir needs --model-dir")
    role = environ.get("MLP_ROLE")
    if role not in (None, "", "ps"):
        p.error(f"MLP_ROLE is {role!r}; ps-server runs the 'ps' role")
    try:
        fields = {k: v for k, v in vars(args).items()
                  if k in ServerConfig.__dataclass_fields__ and k not in ("discovery", "security")}
        return ServerConfig(**fields, discovery=discovery_config(args),
                            security=security_config(args, environ))
    except ValueError as exc:
        p.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)

    from services.bootstrap import serve_until_stopped
    from services.checkpoints import CheckpointError
    from services.logs import configure_logging

    configure_logging("ps", config.log_level)

    def build():
        from ps_server.server import PSServer

        return PSServer(config)

    return serve_until_stopped("ps-server", build, (OSError, ValueError, CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
