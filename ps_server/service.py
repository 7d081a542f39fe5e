"""The ParameterServer gRPC servicer: decode, validate, call the tables, encode.

No table logic lives here. Pull and Push arrive as raw bytes (services.wire);
every other method uses the generated messages. Kernels run in the server's
thread pool, never on the event loop; different tables run in parallel.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import Executor

import grpc
import numpy as np

from ps_server.config import PullDType, TableConfig
from ps_server.dense import DenseStore
from ps_server.sync import SyncRounds
from ps_server.table import EmbeddingTable
from services import wire
from services.errors import InvalidArgument, NotFound
from services.pb import parameter_server_pb2 as pb
from services.pb import tensor_pb2
from services.tensors import expect, from_tensor, to_tensor

SERVICE_NAME = "monolith_ps.v1.ParameterServer"
_PULL_CHUNK = 32768


def table_config_proto(config: TableConfig) -> pb.TableConfig:
    init = config.initializer.to_dict()
    init_type = init.pop("type")
    return pb.TableConfig(
        name=config.name,
        dim=config.dim,
        optimizer=pb.OptimizerConfig(type=config.optimizer.kind.value,
                                     hyperparameters=config.optimizer.params),
        initializer=pb.InitializerConfig(type=init_type, parameters=init),
        expire_after_s=config.expire_after_s,
        occurrence_threshold=config.occurrence_threshold,
        pull_dtype=(tensor_pb2.DTYPE_FLOAT16 if config.pull_dtype is PullDType.FP16
                    else tensor_pb2.DTYPE_FLOAT32),
    )


class ParameterServerService:
    """Handlers for monolith_ps.v1.ParameterServer over one shard's tables."""

    def __init__(self, tables: dict[str, EmbeddingTable], dense: DenseStore, pool: Executor,
                 *, shard: int, num_shards: int, max_ids_per_table: int, threads: int,
                 table_metrics=None):
        self.tables = tables
        self.dense = dense
        self.pool = pool
        self.shard = shard
        self.num_shards = num_shards
        self.max_ids_per_table = max_ids_per_table
        self.threads = max(1, threads)
        self.table_metrics = table_metrics
        self.sync_sparse = SyncRounds("sparse", self._apply_sparse_round)
        self.sync_dense = SyncRounds("dense", self._apply_dense_round)

    def _run(self, fn, *args):
        return asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def _table(self, name: str) -> EmbeddingTable:
        table = self.tables.get(name)
        if table is None:
            known = ", ".join(sorted(self.tables)) or "none"
            raise NotFound(f"table {name!r} does not exist on shard {self.shard} (tables: {known})")
        return table

    def _check_ids(self, table: EmbeddingTable, ids: np.ndarray, field: str = "ids") -> None:
        expect(ids, np.int64, 1, f"table {table.name!r}: {field}")
        if ids.shape[0] > self.max_ids_per_table:
            raise InvalidArgument(
                f"table {table.name!r}: {field} has {ids.shape[0]} ids, "
                f"over the limit of {self.max_ids_per_table} per table per request")

    @staticmethod
    def _check_unique_tables(names: list[str]) -> None:
        seen = set()
        for name in names:
            if name in seen:
                raise InvalidArgument(f"table {name!r} appears twice in one request")
            seen.add(name)

    # -- hot path ----------------------------------------------------------

    async def pull(self, request: bytes, context) -> bytes:
        message = wire.decode_pull_message(request)
        entries = message.tables
        self._check_unique_tables([name for name, _ in entries])
        tables = [self._table(name) for name, _ in entries]
        for table, (_, ids) in zip(tables, entries):
            self._check_ids(table, ids)
        reply = wire.PullReply([(t.pull_dtype, (ids.shape[0], t.dim))
                                for t, (_, ids) in zip(tables, entries)])
        pieces = []
        for table, (_, ids), out in zip(tables, entries, reply.views):
            n = ids.shape[0]
            parts = min(self.threads, max(1, n // _PULL_CHUNK))
            bounds = np.linspace(0, n, parts + 1).astype(np.int64)
            pieces += [(table.lookup, ids[lo:hi], out[lo:hi])
                       for lo, hi in itertools.pairwise(bounds)]
        groups = _groups(pieces, lambda p: p[1].shape[0])
        if message.dense:  # read with the last (smallest) group of lookups: no extra hop
            groups[-1:] = [(groups[-1] if groups else []) + [(self._pull_dense, message.dense)]]
        results = await asyncio.gather(*(self._run(_call_all, group) for group in groups))
        values, counts = results[-1][-1] if message.dense else ((), ())
        if self.table_metrics is not None:
            for table, (_, ids) in zip(tables, entries):
                self.table_metrics.rows_pulled.labels(table.name).inc(ids.shape[0])
        return reply.payload(values, counts)

    async def push(self, request: bytes, context) -> bytes:
        message = wire.decode_push_request(request)
        self._check_unique_tables([t.table for t in message.tables])
        if message.timestamp_s < 0:
            raise InvalidArgument(f"timestamp_s must be >= 0, got {message.timestamp_s}")
        if message.global_step < 0:
            raise InvalidArgument(f"global_step must be >= 0, got {message.global_step}")
        if message.dense and message.sync_replicas:
            raise InvalidArgument("dense_gradients are for asynchronous pushes only "
                                  f"(sync_replicas is {message.sync_replicas}): use PushDense")
        self._check_unique_variables([name for name, _ in message.dense])
        tables = [self._table(t.table) for t in message.tables]
        for table, part in zip(tables, message.tables):
            self._check_ids(table, part.ids)

        if message.sync_replicas:
            await self._run(_call_all, [(t.validate_push, p.ids, p.gradients, p.counts)
                                        for t, p in zip(tables, message.tables)])
            contribution = (tables, message)
            result, stop = await self.sync_sparse.contribute(
                message.global_step, message.sync_replicas, contribution, message.end_of_data)
            tables, stats = result or ([], [])
        else:
            stop = False
            stats, counts = await self._apply_push(tables, message.tables, message.timestamp_s,
                                                   message.global_step, message.dense)
        response = pb.PushResponse(stop=stop)
        if message.dense:
            response.dense_update_counts.extend(counts)
        for table, s in zip(tables or [], stats or []):
            response.results.add(table=table.name, applied=s.applied, filtered=s.filtered,
                                 created=s.created)
            if self.table_metrics is not None:
                self.table_metrics.rows_pushed.labels(table.name).inc(s.applied)
        return response.SerializeToString()

    async def _apply_push(self, tables, parts, timestamp_s: int, global_step: int,
                          dense=None):
        """Applies every table's part. With ``dense`` ((variable, gradient) pairs, maybe
        empty) it is a request's async push: every table and variable is checked first (a
        rejected request changes nothing), then the variables are updated too; returns
        (stats, update counts). Small tables share a pool job (one hop for a small request:
        checks and updates together), large ones get their own."""
        timestamp = timestamp_s or int(time.time())
        applies = [(table.apply_gradients, part.ids, part.gradients, part.counts, timestamp,
                    global_step) for table, part in zip(tables, parts)]
        groups = _groups(applies, lambda a: a[1].shape[0])
        if dense is None:
            results = await asyncio.gather(*(self._run(_call_all, group) for group in groups))
            return [stat for group in results for stat in group]
        checks = [(table.validate_push, part.ids, part.gradients, part.counts)
                  for table, part in zip(tables, parts)]
        checks += [(self.dense.validate_push, name, grad) for name, grad in dense]
        updates = [(self.dense.push, name, grad) for name, grad in dense]
        if len(groups) <= 1:
            done = await self._run(_call_all, checks + (groups[0] if groups else []) + updates)
            done = done[len(checks):]
        else:
            await self._run(_call_all, checks)
            groups[-1] = groups[-1] + updates
            results = await asyncio.gather(*(self._run(_call_all, g) for g in groups))
            done = [result for group in results for result in group]
        return done[:len(applies)], done[len(applies):]

    async def _apply_sparse_round(self, contributions):
        """One synchronous step: the mean of every replica's gradients, per table."""
        scale = np.float32(1.0 / len(contributions))
        merged: dict[str, list] = {}
        for tables, message in contributions:
            for table, part in zip(tables, message.tables):
                counts = part.counts if part.counts is not None else np.ones(
                    part.ids.shape[0], np.int64)
                merged.setdefault(table.name, [table, [], [], []])
                merged[table.name][1].append(part.ids)
                merged[table.name][2].append(part.gradients)
                merged[table.name][3].append(counts)
        tables, parts = [], []
        for table, ids, grads, counts in merged.values():
            tables.append(table)
            parts.append(wire.TablePush(table.name, np.concatenate(ids),
                                        np.concatenate(grads) * scale, np.concatenate(counts)))
        _, first = contributions[0]
        timestamp = max(m.timestamp_s for _, m in contributions)
        stats = await self._apply_push(tables, parts, timestamp, first.global_step)
        return tables, stats

    # -- dense ---------------------------------------------------------------

    def _pull_dense(self, inits: list[tuple[str, np.ndarray | None]]):
        """Values and update counts of (variable, initial value or None) pairs (pool job)."""
        values = [self.dense.pull(name, init) for name, init in inits]
        return values, [self.dense.update_count(name) for name, _ in inits]

    @staticmethod
    def _check_unique_variables(names: list[str]) -> None:
        if len(set(names)) != len(names):
            raise InvalidArgument("a dense variable appears twice in one request")

    async def pull_dense(self, request: pb.PullDenseRequest, context) -> pb.PullDenseResponse:
        inits = []
        for var in request.variables:
            init = None
            if var.HasField("initial_value"):
                init = from_tensor(var.initial_value, f"variable {var.name!r}: initial_value")
            inits.append((var.name, init))
        values, counts = await self._run(self._pull_dense, inits)
        return pb.PullDenseResponse(values=[to_tensor(v) for v in values], update_counts=counts)

    async def push_dense(self, request: pb.PushDenseRequest, context) -> pb.PushDenseResponse:
        grads = [(g.name, from_tensor(g.gradient, f"variable {g.name!r}: gradient"))
                 for g in request.gradients]
        names = [name for name, _ in grads]
        if len(set(names)) != len(names):
            raise InvalidArgument("a dense variable appears twice in one PushDense request")

        def validate_all():
            for name, grad in grads:
                self.dense.validate_push(name, grad)

        if request.sync_replicas:
            await self._run(validate_all)
            counts, stop = await self.sync_dense.contribute(
                request.global_step, request.sync_replicas, grads, request.end_of_data)
            counts = [counts[name] for name in names] if counts else []
        else:
            def validate_and_push():  # one pool job; every gradient is checked before any update
                validate_all()
                return [self.dense.push(n, g) for n, g in grads]

            stop = False
            counts = await self._run(validate_and_push)
        return pb.PushDenseResponse(update_counts=counts, stop=stop)

    async def _apply_dense_round(self, contributions) -> dict[str, int]:
        """One synchronous step: the mean of every replica's gradient, per variable."""
        sums: dict[str, np.ndarray] = {}
        for grads in contributions:
            for name, grad in grads:
                sums[name] = sums[name] + grad if name in sums else grad.astype(np.float32)
        scale = np.float32(1.0 / len(contributions))
        return await self._run(
            lambda: {name: self.dense.push(name, total * scale) for name, total in sums.items()})

    # -- maintenance ---------------------------------------------------------

    async def steal_touched_keys(self, request, context) -> pb.StealTouchedKeysResponse:
        table = self._table(request.table)
        ids, dropped = await self._run(table.steal_touched)
        return pb.StealTouchedKeysResponse(ids=to_tensor(np.asarray(ids, np.int64)),
                                           dropped=dropped)

    def _selected(self, name: str) -> list[EmbeddingTable]:
        return [self._table(name)] if name else [self.tables[n] for n in sorted(self.tables)]

    async def get_table_info(self, request, context) -> pb.GetTableInfoResponse:
        response = pb.GetTableInfoResponse()
        for table in self._selected(request.table):
            response.tables.add(
                config=table_config_proto(table.config), rows=table.size,
                capacity=table.capacity, bytes=table.nbytes,
                slots=[pb.SlotInfo(name=n, width=w) for n, w in table.slot_layout],
                shard=self.shard, num_shards=self.num_shards)
        return response

    async def evict(self, request, context) -> pb.EvictResponse:
        tables = self._selected(request.table)
        counts = await asyncio.gather(*(self._run(t.evict) for t in tables))
        return pb.EvictResponse(evicted=int(sum(counts)))

    async def inspect_rows(self, request, context) -> pb.InspectRowsResponse:
        table = self._table(request.table)
        ids = from_tensor(request.ids, f"table {table.name!r}: ids")
        self._check_ids(table, ids)
        view = await self._run(table.inspect, ids)
        return pb.InspectRowsResponse(
            found=to_tensor(np.asarray(view.found, np.int64)),
            embeddings=to_tensor(view.embeddings),
            slots=to_tensor(view.slots),
            last_update_s=to_tensor(view.last_update_s))

    async def export_rows(self, request, context) -> pb.ExportRowsResponse:
        table = self._table(request.table)
        rows = await self._run(table.export)
        return pb.ExportRowsResponse(
            ids=to_tensor(np.asarray(rows.ids, np.int64)),
            embeddings=to_tensor(rows.embeddings.astype(table.pull_dtype, copy=False)))

    # -- registration ----------------------------------------------------------

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(fn, req=None, resp=None):
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.FromString if req else None,
                response_serializer=resp.SerializeToString if resp else None)

        return grpc.method_handlers_generic_handler(SERVICE_NAME, {
            "Pull": unary(self.pull),
            "Push": unary(self.push),
            "PullDense": unary(self.pull_dense, pb.PullDenseRequest, pb.PullDenseResponse),
            "PushDense": unary(self.push_dense, pb.PushDenseRequest, pb.PushDenseResponse),
            "StealTouchedKeys": unary(self.steal_touched_keys, pb.StealTouchedKeysRequest,
                                      pb.StealTouchedKeysResponse),
            "GetTableInfo": unary(self.get_table_info, pb.GetTableInfoRequest,
                                  pb.GetTableInfoResponse),
            "Evict": unary(self.evict, pb.EvictRequest, pb.EvictResponse),
            "InspectRows": unary(self.inspect_rows, pb.InspectRowsRequest,
                                 pb.InspectRowsResponse),
            "ExportRows": unary(self.export_rows, pb.ExportRowsRequest, pb.ExportRowsResponse),
        })


def _call_all(calls: list[tuple]) -> list:
    """Runs ``fn(*args)`` for each ``(fn, *args)`` in order, in one pool job."""
    return [fn(*args) for fn, *args in calls]


def _groups(calls: list[tuple], size) -> list[list[tuple]]:
    """``calls`` in order, cut into runs of at least ``_PULL_CHUNK`` ids (``size(call)``) each
    but the last: each run is one pool job, so many small tables cost one thread hop and
    large ones still spread over the pool."""
    groups: list[list[tuple]] = []
    current: list[tuple] = []
    filled = 0
    for call in calls:
        current.append(call)
        filled += size(call)
        if filled >= _PULL_CHUNK:
            groups.append(current)
            current, filled = [], 0
    if current:
        groups.append(current)
    return groups
