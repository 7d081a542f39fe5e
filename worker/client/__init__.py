"""Clients of the parameter-server shards: async, blocking, and what they return."""

from worker.client.aio import DEFAULT_CHANNEL_OPTIONS, AsyncPSClient
from worker.client.blocking import PSClient
from worker.client.types import PSClientError, PushStats, RowsView

__all__ = [
    "DEFAULT_CHANNEL_OPTIONS",
    "AsyncPSClient",
    "PSClient",
    "PSClientError",
    "PushStats",
    "RowsView",
]
