"""``PSClient``: the blocking twin of ``AsyncPSClient`` for synchronous training loops.

It owns a private event loop in a daemon thread; each call submits the async
method there and waits for it, so the caller needs no event loop of its own
and channels stay long-lived across calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from services.pb import parameter_server_pb2 as pb
from services.retry import DEFAULT_RETRY, RetryPolicy
from services.security import SecurityConfig
from worker.client.aio import SYNC_TIMEOUT_S, TIMEOUT_S, AsyncPSClient
from worker.client.types import PushStats, RowsView

if TYPE_CHECKING:
    from typing_extensions import Self

T = TypeVar("T")


class PSClient:
    """Blocking PS client; same methods, arguments and errors as ``AsyncPSClient``.

    Safe to call from several threads: calls run concurrently on the private loop.
    """

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        timeout_s: float = TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        channel_options: Sequence | None = None,
        sync_timeout_s: float = SYNC_TIMEOUT_S,
        security: SecurityConfig | None = None,
        max_message_bytes: int | None = None,
    ):
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ps-client-loop", daemon=True
        )
        self._thread.start()
        try:
            self._client = self._run(self._open(
                addresses, timeout_s=timeout_s, retry=retry, channel_options=channel_options,
                sync_timeout_s=sync_timeout_s, security=security,
                max_message_bytes=max_message_bytes))
        except BaseException:
            self._stop_loop()
            raise

    @staticmethod
    async def _open(addresses, **kwargs) -> AsyncPSClient:
        return AsyncPSClient(addresses, **kwargs)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("PSClient is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_loop(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    @property
    def addresses(self) -> tuple[str, ...]:
        return self._client.addresses

    @property
    def num_ps(self) -> int:
        return self._client.num_ps

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channels and stops the loop thread; later calls raise RuntimeError."""
        if self._closed:
            return
        try:
            self._run(self._client.close())
        finally:
            self._stop_loop()

    def pull(self, ids: Mapping[str, np.ndarray], *, dedup: bool = True) -> dict[str, np.ndarray]:
        """See ``AsyncPSClient.pull``: (n,) int64 ids per table -> (n, dim) rows."""
        return self._run(self._client.pull(ids, dedup=dedup))

    def push(
        self,
        ids: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        *,
        counts: Mapping[str, np.ndarray] | None = None,
        timestamp_s: int = 0,
        global_step: int = 0,
        dedup: bool = True,
    ) -> dict[str, PushStats]:
        """See ``AsyncPSClient.push``: (n,) ids and (n, dim) float32 gradients per table."""
        return self._run(self._client.push(
            ids, grads, counts=counts, timestamp_s=timestamp_s, global_step=global_step,
            dedup=dedup))

    def pull_with_dense(self, ids: Mapping[str, np.ndarray],
                        variables: Mapping[str, np.ndarray | None], *,
                        dedup: bool = True) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """See ``AsyncPSClient.pull_with_dense``: (rows, dense values) in one round trip."""
        return self._run(self._client.pull_with_dense(ids, variables, dedup=dedup))

    def push_with_dense(self, ids, grads, dense_grads, *, counts=None, timestamp_s: int = 0,
                        global_step: int = 0,
                        dedup: bool = True) -> tuple[dict[str, PushStats], dict[str, int]]:
        """See ``AsyncPSClient.push_with_dense``: (stats, dense update counts)."""
        return self._run(self._client.push_with_dense(
            ids, grads, dense_grads, counts=counts, timestamp_s=timestamp_s,
            global_step=global_step, dedup=dedup))

    def push_sync(self, ids, grads, *, step: int, replicas: int, end_of_data: bool = False,
                  counts=None, timestamp_s: int = 0,
                  dedup: bool = True) -> tuple[dict[str, PushStats], bool]:
        """See ``AsyncPSClient.push_sync``."""
        return self._run(self._client.push_sync(
            ids, grads, step=step, replicas=replicas, end_of_data=end_of_data, counts=counts,
            timestamp_s=timestamp_s, dedup=dedup))

    def push_dense_sync(self, grads, *, step: int, replicas: int,
                        end_of_data: bool = False) -> tuple[dict[str, int], bool]:
        """See ``AsyncPSClient.push_dense_sync``."""
        return self._run(self._client.push_dense_sync(
            grads, step=step, replicas=replicas, end_of_data=end_of_data))

    def submit(self, method: str, *args, **kwargs) -> concurrent.futures.Future:
        """Starts ``method`` of the async client without waiting: a Future of its result.

        Lets a training loop overlap the next pull or the last push with compute.
        """
        if self._closed:
            raise RuntimeError("PSClient is closed")
        return asyncio.run_coroutine_threadsafe(
            getattr(self._client, method)(*args, **kwargs), self._loop)

    def pull_dense(self, variables: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        return self._run(self._client.pull_dense(variables))

    def dense_update_count(self, name: str) -> int:
        """See ``AsyncPSClient.dense_update_count``."""
        return self._run(self._client.dense_update_count(name))

    def push_dense(self, grads: Mapping[str, np.ndarray]) -> dict[str, int]:
        return self._run(self._client.push_dense(grads))

    def steal_touched_keys(self, table: str) -> np.ndarray:
        return self._run(self._client.steal_touched_keys(table))

    def export_rows(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """See ``AsyncPSClient.export_rows``."""
        return self._run(self._client.export_rows(table))

    def table_info(self, table: str = "") -> list[pb.TableInfo]:
        return self._run(self._client.table_info(table))

    def evict(self, table: str = "") -> int:
        return self._run(self._client.evict(table))

    def inspect_rows(self, table: str, ids: np.ndarray) -> RowsView:
        return self._run(self._client.inspect_rows(table, ids))
