"""Metric naming and the metrics HTTP endpoint shared by every process.

The prefix comes from ``MONOLITH_METRIC_PREFIX`` (default
``monolith.training``), made Prometheus-safe: ``monolith_training``.
"""

from __future__ import annotations

import os
import re

from prometheus_client import CollectorRegistry, start_http_server

DEFAULT_METRIC_PREFIX = "monolith.training"


def metric_prefix(environ=os.environ) -> str:
    raw = environ.get("MONOLITH_METRIC_PREFIX") or DEFAULT_METRIC_PREFIX
    name = re.sub(r"[^a-zA-Z0-9_]", "_", raw)
    return name if re.match(r"[a-zA-Z_]", name) else f"_{name}"


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1"):
    """Starts the scrape endpoint in a daemon thread; returns the HTTP server."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
