"""Worker role: the PS client, the training loop, reference models and data."""

from worker.client import AsyncPSClient, PSClient, PSClientError, PushStats

__all__ = ["AsyncPSClient", "PSClient", "PSClientError", "PushStats"]
