"""``ps-server``: run one parameter-server shard until SIGTERM."""

from __future__ import annotations

import argparse
import sys

from ps_server.server_config import ServerConfig


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    p = argparse.ArgumentParser(prog="ps-server", description=__doc__)
    p.add_argument("--tables", dest="tables_path", required=True,
                   help="JSON file with the table configs (see ps_server/examples/tables.json)")
    p.add_argument("--port", type=int, default=0, help="gRPC port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for all)")
    p.add_argument("--shard", type=int, default=0, help="this PS's shard index")
    p.add_argument("--num-shards", type=int, default=1, help="number of PS shards")
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus scrape port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics endpoint")
    p.add_argument("--threads", type=int, default=ServerConfig.threads,
                   help="kernel thread-pool size")
    p.add_argument("--grace-s", type=float, default=10.0,
                   help="seconds in-flight RPCs get to finish on SIGTERM")
    p.add_argument("--max-message-bytes", type=int, default=ServerConfig.max_message_bytes)
    p.add_argument("--max-ids-per-table", type=int, default=ServerConfig.max_ids_per_table)
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    try:
        return ServerConfig(**vars(args))
    except ValueError as exc:
        p.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)

    from services.bootstrap import run, wait_for_stop_signal
    from services.logs import configure_logging

    configure_logging("ps", config.log_level)

    async def serve() -> int:
        from ps_server.server import PSServer

        try:
            server = PSServer(config)
        except (OSError, ValueError) as exc:
            print(f"ps-server: {exc}", file=sys.stderr)
            return 1
        await server.start()
        await wait_for_stop_signal()
        await server.stop()
        return 0

    return run(serve)


if __name__ == "__main__":
    sys.exit(main())
