"""Tables of PS processes that are already running, read through GetTableInfo."""

from __future__ import annotations

from ps_server.config import PullDType
from services.pb import tensor_pb2
from services.security import SecurityConfig
from worker.benchmark.types import BenchmarkError, TableSpec
from worker.client import PSClient, PSClientError


def discover_tables(addresses: tuple[str, ...], count: int,
                    security: SecurityConfig | None = None) -> tuple[TableSpec, ...]:
    """The first ``count`` tables (by name) hosted by the PS at ``addresses``."""
    try:
        with PSClient(list(addresses), timeout_s=10.0, security=security) as client:
            infos = client.table_info()
    except PSClientError as exc:
        raise BenchmarkError(f"cannot read the tables of {exc.peer}: {exc.code.name}: "
                             f"{exc.details}") from exc
    first = [i for i in infos if i.shard == infos[0].shard] if infos else []
    if len(first) < count:
        raise BenchmarkError(
            f"PS at {','.join(addresses)} host {len(first)} tables, {count} needed per request "
            "(lower --tables)")
    return tuple(
        TableSpec(i.config.name, int(i.config.dim),
                  PullDType.FP16 if i.config.pull_dtype == tensor_pb2.DTYPE_FLOAT16
                  else PullDType.FP32)
        for i in first[:count])
