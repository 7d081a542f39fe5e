"""Human summaries (tables) and JSON documents of runs and sweeps."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path, PurePath

from services.files import write_bytes_atomic as write_atomic
from worker.benchmark.config import BASELINES, RunConfig
from worker.benchmark.runner import RunResult

SCHEMA_VERSION = 1


def plain(value):
    """Dataclasses, enums, paths and tuples as JSON-ready dicts, strings and lists.

    Fields hidden from repr (secrets such as an auth token) are left out.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def run_record(result: RunResult) -> dict:
    """Every figure and the configuration of one run (without machine facts)."""
    return {
        "config": plain(result.config),
        "ps": {
            "mode": "started" if result.ps_started else "attached",
            "addresses": list(result.addresses),
            "tables": plain(result.tables),
        },
        "seconds_per_operation": result.config.seconds_per_operation,
        "operations": {name: s.to_dict() for name, s in result.stats.items()},
        "ratios": result.ratios,
        "started_at": result.started_at,
        "wall_s": result.wall_s,
    }


def run_document(result: RunResult, machine: dict) -> dict:
    return {"schema": SCHEMA_VERSION, "command": "run", "machine": machine,
            **run_record(result)}


def write_json(path: str | Path, document: dict) -> None:
    write_atomic(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


def describe(config: RunConfig, tables) -> str:
    w = config.workload
    if config.local is not None:
        where = f"{config.local.num_ps} PS started, {config.local.optimizer.value}"
    else:
        where = f"{len(config.ps)} PS attached"
    dims = sorted({t.dim for t in tables})
    dtypes = sorted({t.pull_dtype.value for t in tables})
    return (f"{where}, {config.clients} client process(es) x {config.in_flight} in flight, "
            f"{w.batch_size:,} ids x {w.tables} table(s) per request, dim "
            f"{'/'.join(map(str, dims))} {'/'.join(dtypes)} pulls, zipf {w.zipf:g} over "
            f"{w.vocab:,} ids, {config.seconds_per_operation:g} s per operation")


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def run_table(result: RunResult) -> str:
    """The run as a fixed-width table: one line per operation, then the ratios."""
    head = (f"{'operation':<22}{'rows/s':>14}{'MB/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'server CPU s/Mrow':>19}{'client CPU s/Mrow':>19}")
    lines = [describe(result.config, result.tables), "", head]
    for s in result.stats.values():
        label = f"{s.backend.replace('_', ' ')} {s.direction}"
        lines.append(
            f"{label:<22}{s.rows_per_s:>14,.0f}{s.mb_per_s:>10,.1f}"
            f"{_num(s.latency_p50_ms, '.1f'):>9}{_num(s.latency_p99_ms, '.1f'):>9}"
            f"{_num(s.server_cpu_s_per_mrows, '.3f'):>19}"
            f"{_num(s.client_cpu_s_per_mrows, '.3f'):>19}")
    baselines = [b.value for b in BASELINES if b in result.config.baselines]
    if baselines:
        lines += ["", f"{'PS rows/s over':<22}" + "".join(f"{b:>16}" for b in baselines)]
        for direction, row in result.ratios.items():
            lines.append(f"{direction:<22}" + "".join(
                f"{_num(row.get(b), '.2f'):>16}" for b in baselines))
    return "\n".join(lines)
