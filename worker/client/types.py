"""What the PS client returns and raises."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import numpy as np


class PSClientError(Exception):
    """A PS call failed: the status ``code``, the ``peer`` address and the RPC ``method``.

    ``str()`` names all three and carries the server's message (``details``).
    UNAVAILABLE is raised only after the retry policy gave up.
    """

    def __init__(self, code: grpc.StatusCode, peer: str, method: str, details: str):
        super().__init__(f"{method} on {peer} failed with {code.name}: {details}")
        self.code = code
        self.peer = peer
        self.method = method
        self.details = details


@dataclass(frozen=True)
class PushStats:
    """Outcome of a push for one table, summed over shards.

    ``applied``: distinct ids whose update was applied; ``filtered``: distinct
    ids dropped by the occurrence filter; ``created``: rows created.
    """

    applied: int = 0
    filtered: int = 0
    created: int = 0

    def __add__(self, other: PushStats) -> PushStats:
        return PushStats(
            self.applied + other.applied,
            self.filtered + other.filtered,
            self.created + other.created,
        )


@dataclass(frozen=True)
class RowsView:
    """Full rows of one table, in request order (zeros where ``found`` is False).

    ``found``: (n,) bool. ``embeddings``: (n, dim) float32. ``slots``:
    (n, slot_width) float32, optimizer slots concatenated in
    ``TableInfo.slots`` order. ``last_update_s``: (n,) int64.
    """

    found: np.ndarray
    embeddings: np.ndarray
    slots: np.ndarray
    last_update_s: np.ndarray
