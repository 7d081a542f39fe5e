"""``AsyncPSClient``: the worker's async view of N parameter-server shards.

Batches in, batches out: ids are deduplicated once per table, split by
``shard_of``, and every shard involved gets one RPC carrying all tables, all
shards at once. Pull and Push travel as raw bytes through ``services.wire``;
the other methods use the generated messages. One long-lived channel per PS,
a deadline on every call, UNAVAILABLE retried by ``services.retry``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import grpc
import numpy as np

from services import wire
from services.errors import PSError
from services.pb import parameter_server_pb2 as pb
from services.pb import parameter_server_pb2_grpc as pb_grpc
from services.retry import DEFAULT_RETRY, RetryPolicy, call_with_retry
from services.security import SecurityConfig
from services.security import channel as secure_channel
from services.tensors import from_tensor, to_tensor
from worker.client.inputs import as_counts, as_dense_grad, as_grads, initial
from worker.client.routing import (
    assign_tables,
    check_same_tables,
    group_names,
    route_table,
)
from worker.client.types import PSClientError, PushStats, RowsView

if TYPE_CHECKING:
    from typing_extensions import Self

_log = logging.getLogger(__name__)

_SERVICE = "/monolith_ps.v1.ParameterServer/"
MAX_MESSAGE_BYTES = 1 << 30  # matches ps-server's --max-message-bytes default
SYNC_TIMEOUT_S = 600.0
TIMEOUT_S = 30.0  # deadline of every call but a synchronous step's

DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # A restarted PS is found again within seconds, not gRPC's default two minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)
_SIZE_OPTIONS = ("grpc.max_send_message_length", "grpc.max_receive_message_length")


class AsyncPSClient:
    """Pull/push batches from/to the PS shards at ``addresses`` (shard i at ``addresses[i]``).

    Bound to the event loop it is created on. ``channel_options`` replaces
    ``DEFAULT_CHANNEL_OPTIONS`` (1 GiB messages, short reconnect backoff);
    ``max_message_bytes`` (when given) caps requests and replies instead of 1 GiB.
    ``security``: TLS and bearer token of every channel (None: plaintext).
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
        if isinstance(addresses, str) or not addresses:
            raise ValueError(f"addresses must be a non-empty list of host:port, got {addresses!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self._addresses = tuple(addresses)
        self._timeout_s = float(timeout_s)
        self._sync_timeout_s = float(sync_timeout_s)
        self._retry = retry
        options = list(DEFAULT_CHANNEL_OPTIONS if channel_options is None else channel_options)
        if max_message_bytes is not None:
            if max_message_bytes < 1:
                raise ValueError(f"max_message_bytes must be >= 1, got {max_message_bytes}")
            options = [o for o in options if o[0] not in _SIZE_OPTIONS]
            options += [(name, int(max_message_bytes)) for name in _SIZE_OPTIONS]
        self._channels = [secure_channel(a, security, options) for a in self._addresses]
        self._rpcs = []
        for channel in self._channels:
            stub = pb_grpc.ParameterServerStub(channel)
            self._rpcs.append({
                "Pull": channel.unary_unary(_SERVICE + "Pull"),
                "Push": channel.unary_unary(_SERVICE + "Push"),
                "PullDense": stub.PullDense,
                "PushDense": stub.PushDense,
                "StealTouchedKeys": stub.StealTouchedKeys,
                "GetTableInfo": stub.GetTableInfo,
                "Evict": stub.Evict,
                "InspectRows": stub.InspectRows,
                "ExportRows": stub.ExportRows,
            })

    @property
    def addresses(self) -> tuple[str, ...]:
        return self._addresses

    @property
    def num_ps(self) -> int:
        return len(self._addresses)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes every channel; calls in flight are cancelled."""
        await asyncio.gather(*(channel.close() for channel in self._channels))

    # -- transport --------------------------------------------------------------

    async def _call(self, shard: int, method: str, request, timeout_s: float | None = None):
        rpc = self._rpcs[shard][method]
        timeout_s = timeout_s or self._timeout_s
        try:
            return await call_with_retry(
                lambda: rpc(request, timeout=timeout_s), self._retry
            )
        except grpc.aio.AioRpcError as exc:
            raise PSClientError(
                exc.code(), self._addresses[shard], method, exc.details() or ""
            ) from exc

    async def _fan_out(self, method: str, requests: Mapping[int, object],
                       timeout_s: float | None = None) -> dict[int, object]:
        """One ``method`` call per shard in ``requests``, all at once; the first error is raised."""
        shards = list(requests)
        replies = await asyncio.gather(
            *(self._call(s, method, requests[s], timeout_s) for s in shards),
            return_exceptions=True
        )
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return dict(zip(shards, replies))

    def _malformed(self, shard: int, method: str, problem: str) -> PSClientError:
        return PSClientError(
            grpc.StatusCode.INTERNAL, self._addresses[shard], method, f"malformed reply: {problem}"
        )

    def _decode(self, shard: int, method: str, tensor, field: str) -> np.ndarray:
        try:
            return from_tensor(tensor, field)
        except PSError as exc:
            raise self._malformed(shard, method, exc.message) from exc

    def _check_count(self, shard: int, method: str, got: int, expected: int, what: str) -> None:
        if got != expected:
            raise self._malformed(shard, method, f"{got} {what} for {expected} requested")

    # -- embeddings -------------------------------------------------------------

    async def pull(self, ids: Mapping[str, np.ndarray], *,
                   dedup: bool = True) -> dict[str, np.ndarray]:
        """Embeddings of ``ids[table]`` (n,) int64 as (n, dim) float32 or float16, in request order.

        Ids without a row come back as zeros. A table with no ids still
        reaches a PS, so its name is checked and the result is (0, dim).
        """
        rows, _ = await self._pull(ids, {}, dedup)
        return rows

    async def pull_with_dense(self, ids: Mapping[str, np.ndarray],
                              variables: Mapping[str, np.ndarray | None], *,
                              dedup: bool = True) -> tuple[dict[str, np.ndarray],
                                                           dict[str, np.ndarray]]:
        """``pull(ids)`` and ``pull_dense(variables)`` in one round trip: one Pull per PS
        carries its tables and its dense variables. Returns (rows, values)."""
        return await self._pull(ids, variables, dedup)

    async def _pull(self, ids, variables, dedup):
        routes = [route_table(table, table_ids, self.num_ps, dedup)
                  for table, table_ids in ids.items()]
        plan = assign_tables(routes, self.num_ps) if routes else {}
        dense_plan = group_names(list(variables), self.num_ps)
        requests = {
            s: wire.encode_pull_request(
                [(routes[i].table, routes[i].shard_ids(s)) for i in plan.get(s, [])],
                [(name, initial(variables[name])) for name in dense_plan.get(s, [])])
            for s in sorted(set(plan) | set(dense_plan))
        }
        if not requests:
            return {}, {}
        replies = await self._fan_out("Pull", requests)
        parts: list[list[np.ndarray]] = [[] for _ in routes]
        values: dict[str, np.ndarray] = {}
        missing: list[str] = []
        for s in requests:
            idx, names = plan.get(s, []), dense_plan.get(s, [])
            try:
                answer = wire.decode_pull_answer(replies[s])
            except PSError as exc:
                raise self._malformed(s, "Pull", exc.message) from exc
            arrays = answer.embeddings
            self._check_count(s, "Pull", len(arrays), len(idx), "embedding tensors")
            if names and not answer.dense_values:
                missing += names  # a PS that predates dense reads in Pull
            elif names:
                self._check_count(s, "Pull", len(answer.dense_values), len(names), "dense values")
                values.update((name, np.array(v)) for name, v in zip(names, answer.dense_values))
            for i, rows in zip(idx, arrays):
                expected = routes[i].shard_slice(s)
                if rows.ndim != 2 or rows.shape[0] != expected.stop - expected.start:
                    raise self._malformed(
                        s, "Pull", f"table {routes[i].table!r}: shape {list(rows.shape)} "
                        f"for {expected.stop - expected.start} ids"
                    )
                parts[i].append(rows)
        if missing:
            values.update(await self.pull_dense({name: variables[name] for name in missing}))
        return ({route.table: route.gather(p) for route, p in zip(routes, parts)},
                {name: values[name] for name in variables})

    async def push(
        self,
        ids: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        *,
        counts: Mapping[str, np.ndarray] | None = None,
        timestamp_s: int = 0,
        global_step: int = 0,
        dedup: bool = True,
    ) -> dict[str, PushStats]:
        """Applies ``grads[table]`` (n, dim) float32 for ``ids[table]`` (n,) int64.

        Gradients of duplicate ids are summed here and their occurrence
        counts sent along, so the server's occurrence filter sees every
        occurrence. ``counts[table]`` (n,) int64, optional, weights each id
        (for batches the caller deduplicated already). Each PS applies its
        part all-or-nothing; parts on different PS are independent.
        """
        stats, _, _ = await self._push(ids, grads, counts, timestamp_s, global_step,
                                       dedup=dedup)
        return stats

    async def push_with_dense(
        self,
        ids: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        dense_grads: Mapping[str, np.ndarray],
        *,
        counts: Mapping[str, np.ndarray] | None = None,
        timestamp_s: int = 0,
        global_step: int = 0,
        dedup: bool = True,
    ) -> tuple[dict[str, PushStats], dict[str, int]]:
        """``push(...)`` and ``push_dense(dense_grads)`` in one round trip: one Push per PS
        carries its tables and its dense variables. Returns (stats, update counts)."""
        stats, _, dense_counts = await self._push(ids, grads, counts, timestamp_s, global_step,
                                                  dedup=dedup, dense=dense_grads)
        return stats, dense_counts

    async def push_sync(
        self,
        ids: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        *,
        step: int,
        replicas: int,
        end_of_data: bool = False,
        counts: Mapping[str, np.ndarray] | None = None,
        timestamp_s: int = 0,
        dedup: bool = True,
    ) -> tuple[dict[str, PushStats], bool]:
        """This worker's contribution to synchronous ``step`` of ``replicas`` workers.

        Every PS gets a request (empty when it holds none of these ids) and
        answers once all replicas contributed and the mean was applied.
        Returns the step's stats over all contributors and whether training stops
        (a contributor reported ``end_of_data``).
        """
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        stats, stop, _ = await self._push(ids, grads, counts, timestamp_s, step, replicas,
                                          end_of_data, dedup)
        return stats, stop

    def _sync_timeout(self, sync_replicas: int) -> float | None:
        """A synchronous step waits for the slowest replica: its deadline is ``sync_timeout_s``."""
        return self._sync_timeout_s if sync_replicas else None

    async def _push(self, ids, grads, counts, timestamp_s, global_step, sync_replicas=0,
                    end_of_data=False, dedup=True, dense=None
                    ) -> tuple[dict[str, PushStats], bool, dict[str, int]]:
        check_same_tables(ids, grads, "grads")
        counts = counts or {}
        unknown = [t for t in counts if t not in ids]
        if unknown:
            raise ValueError(f"counts names tables without ids: {unknown}")
        routes, sums, occurrences = [], [], []
        for table, table_ids in ids.items():
            route = route_table(table, table_ids, self.num_ps, dedup)
            table_grads = as_grads(table, grads[table], route.size)
            table_counts = as_counts(table, counts.get(table), route.size)
            routes.append(route)
            sums.append(route.sum_rows(table_grads))
            send_counts = table_counts is not None or route.num_unique < route.size
            occurrences.append(route.sum_counts(table_counts) if send_counts else None)
        dense = dense or {}
        dense_plan = group_names(list(dense), self.num_ps)
        plan = assign_tables(routes, self.num_ps) if routes else {}
        if sync_replicas:
            plan = {s: plan.get(s, []) for s in range(self.num_ps)}
        plan = {s: plan.get(s, []) for s in sorted(set(plan) | set(dense_plan))}
        if not plan:
            return {}, False, {}
        requests = {}
        for s, idx in plan.items():
            tables = []
            for i in idx:
                sl = routes[i].shard_slice(s)
                table_counts = None if occurrences[i] is None else occurrences[i][sl]
                tables.append(wire.TablePush(routes[i].table, routes[i].uniq[sl], sums[i][sl],
                                             table_counts))
            requests[s] = wire.encode_push_request(wire.PushMessage(
                tables, int(timestamp_s), int(global_step), int(sync_replicas),
                bool(end_of_data), [(name, as_dense_grad(dense[name]))
                                    for name in dense_plan.get(s, [])]))
        replies = await self._fan_out("Push", requests, self._sync_timeout(sync_replicas))
        stats = {route.table: PushStats() for route in routes}
        stop = False
        dense_counts: dict[str, int] = {}
        missing: list[str] = []
        for s, reply in replies.items():
            response = pb.PushResponse.FromString(reply)
            stop |= response.stop
            names = dense_plan.get(s, [])
            if names and not response.dense_update_counts:
                missing += names  # a PS that predates dense updates in Push
            elif names:
                self._check_count(s, "Push", len(response.dense_update_counts), len(names),
                                  "dense update counts")
                dense_counts.update(zip(names, (int(c) for c in response.dense_update_counts)))
            for result in response.results:
                if result.table not in stats:
                    if sync_replicas:
                        stats[result.table] = PushStats()
                    else:
                        raise self._malformed(
                            s, "Push", f"result for unknown table {result.table!r}")
                stats[result.table] += PushStats(result.applied, result.filtered, result.created)
        if missing:
            dense_counts.update(await self.push_dense({name: dense[name] for name in missing}))
        return stats, stop, {name: dense_counts[name] for name in dense}

    # -- dense variables --------------------------------------------------------

    async def pull_dense(self, variables: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        """Values of dense variables (float32, their shape), creating missing ones.

        ``variables[name]`` is the initial value (any shape, cast to float32)
        or None for a variable that must exist already.
        """
        plan = group_names(list(variables), self.num_ps)
        requests = {}
        for s, names in plan.items():
            request = pb.PullDenseRequest()
            for name in names:
                variable = request.variables.add(name=name)
                if variables[name] is not None:
                    variable.initial_value.CopyFrom(
                        to_tensor(np.asarray(variables[name], dtype=np.float32))
                    )
            requests[s] = request
        replies = await self._fan_out("PullDense", requests)
        values: dict[str, np.ndarray] = {}
        for s, names in plan.items():
            reply = replies[s]
            self._check_count(s, "PullDense", len(reply.values), len(names), "values")
            for k, name in enumerate(names):
                values[name] = self._decode(s, "PullDense", reply.values[k], f"values[{k}]").copy()
        return {name: values[name] for name in variables}

    async def dense_update_count(self, name: str) -> int:
        """Updates applied so far to dense variable ``name`` (its global step in async mode)."""
        shard = group_names([name], self.num_ps)
        (s, _), = shard.items()
        reply = await self._call(s, "PullDense", pb.PullDenseRequest(
            variables=[pb.DenseVariable(name=name)]))
        self._check_count(s, "PullDense", len(reply.update_counts), 1, "update_counts")
        return int(reply.update_counts[0])

    async def push_dense(self, grads: Mapping[str, np.ndarray]) -> dict[str, int]:
        """Applies dense gradients (float32, the variable's shape); returns each variable's update count."""
        counts, _ = await self._push_dense(grads)
        return counts

    async def push_dense_sync(self, grads: Mapping[str, np.ndarray], *, step: int, replicas: int,
                              end_of_data: bool = False) -> tuple[dict[str, int], bool]:
        """This worker's dense contribution to synchronous ``step``; see ``push_sync``."""
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        return await self._push_dense(grads, step, replicas, end_of_data)

    async def _push_dense(self, grads, step=0, sync_replicas=0, end_of_data=False):
        plan = group_names(list(grads), self.num_ps)
        if sync_replicas:
            plan = {s: plan.get(s, []) for s in range(self.num_ps)}
        requests = {}
        for s, names in plan.items():
            request = pb.PushDenseRequest(global_step=step, sync_replicas=sync_replicas,
                                          end_of_data=end_of_data)
            for name in names:
                gradient = np.asarray(grads[name], dtype=np.float32)
                request.gradients.add(name=name).gradient.CopyFrom(to_tensor(gradient))
            requests[s] = request
        replies = await self._fan_out("PushDense", requests, self._sync_timeout(sync_replicas))
        counts: dict[str, int] = {}
        stop = False
        for s, names in plan.items():
            reply = replies[s]
            stop |= reply.stop
            if reply.stop and not reply.update_counts:
                continue
            self._check_count(s, "PushDense", len(reply.update_counts), len(names), "counts")
            counts.update(zip(names, (int(c) for c in reply.update_counts)))
        return {name: counts[name] for name in grads if name in counts}, stop

    # -- operations -------------------------------------------------------------

    async def _every_shard(self, method: str, request) -> list:
        replies = await self._fan_out(method, {s: request for s in range(self.num_ps)})
        return [replies[s] for s in range(self.num_ps)]

    async def steal_touched_keys(self, table: str) -> np.ndarray:
        """Ids of ``table`` updated since the last steal, from every shard: (k,) int64; clears the sets."""
        replies = await self._every_shard(
            "StealTouchedKeys", pb.StealTouchedKeysRequest(table=table)
        )
        dropped = sum(reply.dropped for reply in replies)
        if dropped:
            _log.warning("touched-key sets of table %r overflowed: %d ids dropped", table, dropped)
        parts = [self._decode(s, "StealTouchedKeys", r.ids, "ids") for s, r in enumerate(replies)]
        return np.concatenate([p.reshape(-1) for p in parts]).astype(np.int64, copy=False)

    async def export_rows(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """Every live row of ``table`` from every shard: ids (k,) int64, embeddings (k, dim)."""
        replies = await self._every_shard("ExportRows", pb.ExportRowsRequest(table=table))
        ids = [self._decode(s, "ExportRows", r.ids, "ids") for s, r in enumerate(replies)]
        rows = [self._decode(s, "ExportRows", r.embeddings, "embeddings")
                for s, r in enumerate(replies)]
        return np.concatenate(ids), np.concatenate(rows)

    async def table_info(self, table: str = "") -> list[pb.TableInfo]:
        """``TableInfo`` of ``table`` (every table when empty) from every shard, shard 0's first."""
        replies = await self._every_shard("GetTableInfo", pb.GetTableInfoRequest(table=table))
        return [info for reply in replies for info in reply.tables]

    async def evict(self, table: str = "") -> int:
        """Drops rows expired by data time on every shard; returns how many, summed."""
        replies = await self._every_shard("Evict", pb.EvictRequest(table=table))
        return sum(int(reply.evicted) for reply in replies)

    async def inspect_rows(self, table: str, ids: np.ndarray) -> RowsView:
        """Full rows of ``ids`` (n,) int64 of ``table`` in request order, for inspection."""
        route = route_table(table, ids, self.num_ps)
        shards = route.shards() or [0]
        requests = {
            s: pb.InspectRowsRequest(table=table, ids=to_tensor(route.shard_ids(s))) for s in shards
        }
        replies = await self._fan_out("InspectRows", requests)
        fields = ("found", "embeddings", "slots", "last_update_s")
        parts: dict[str, list[np.ndarray]] = {f: [] for f in fields}
        for s in shards:
            expected = route.shard_slice(s).stop - route.shard_slice(s).start
            for f in fields:
                array = self._decode(s, "InspectRows", getattr(replies[s], f), f)
                if array.ndim == 0 or array.shape[0] != expected:
                    raise self._malformed(
                        s, "InspectRows", f"{f}: shape {list(array.shape)} for {expected} ids"
                    )
                parts[f].append(array)
        rows = {f: route.gather(parts[f]) for f in fields}
        return RowsView(
            found=rows["found"].astype(bool),
            embeddings=rows["embeddings"],
            slots=rows["slots"],
            last_update_s=rows["last_update_s"],
        )
