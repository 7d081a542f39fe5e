"""``sweep``: ``run`` over a grid of batch sizes, dims and numbers of PS."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from worker.benchmark.config import GridMode, RunConfig, SweepConfig
from worker.benchmark.progress import Progress
from worker.benchmark.report import SCHEMA_VERSION, plain, run_record
from worker.benchmark.runner import RunResult, check_workload, run_benchmark

AXES = (("batch_size", "ids per request"), ("dim", "dim"), ("num_ps", "PS processes"))


def grid_points(config: SweepConfig) -> list[dict[str, int]]:
    """Grid points in running order: the product of the axes (FULL), or the base point
    and then each axis's values with the other axes at the base (AXES)."""
    base = {"batch_size": config.base.workload.batch_size, "dim": config.base.local.dim,
            "num_ps": config.base.local.num_ps}
    values = {"batch_size": config.batch_sizes, "dim": config.dims, "num_ps": config.num_ps}
    if config.mode is GridMode.FULL:
        keys = [k for k, _ in AXES]
        return [dict(zip(keys, combo)) for combo in itertools.product(*(values[k] for k in keys))]
    points = [base]
    for key, _ in AXES:
        for v in values[key]:
            point = {**base, key: v}
            if point not in points:
                points.append(point)
    return points


def point_config(base: RunConfig, point: dict[str, int]) -> RunConfig:
    workload = dataclasses.replace(base.workload, batch_size=point["batch_size"])
    local = dataclasses.replace(base.local, dim=point["dim"], num_ps=point["num_ps"])
    return dataclasses.replace(base, workload=workload, local=local)


@dataclass(frozen=True)
class SweepResult:
    config: SweepConfig
    runs: tuple[tuple[dict[str, int], RunResult], ...]

    def points(self) -> list[dict]:
        """Per grid point: its values, PS rows/s and PS / transfer ratio per direction."""
        out = []
        for grid, result in self.runs:
            out.append({
                "grid": grid,
                "rows_per_s": {d: result.stats[f"ps_{d}"].rows_per_s for d in ("pull", "push")},
                "ceiling_ratio": {d: result.ratios[d].get("transfer") for d in ("pull", "push")},
            })
        return out


def check_grid(config: SweepConfig) -> None:
    """ValueError when a grid point's configuration or id stream cannot work."""
    for point in grid_points(config):
        check_workload(point_config(config.base, point))


def run_sweep(config: SweepConfig, progress: Progress | None = None) -> SweepResult:
    """Runs every grid point in turn, each with fresh PS processes."""
    runs = []
    for grid in grid_points(config):
        runs.append((grid, run_benchmark(point_config(config.base, grid), progress)))
    return SweepResult(config, tuple(runs))


def sweep_document(result: SweepResult, machine: dict) -> dict:
    return {
        "schema": SCHEMA_VERSION, "command": "sweep", "machine": machine,
        "config": plain(result.config),
        "points": [{**p, "run": run_record(r)}
                   for p, (_, r) in zip(result.points(), result.runs)],
    }


def sweep_table(result: SweepResult) -> str:
    head = (f"{'batch':>9}{'dim':>6}{'PS':>4}{'pull rows/s':>15}{'push rows/s':>15}"
            f"{'pull/ceiling':>14}{'push/ceiling':>14}")
    lines = [head]
    for p in result.points():
        g, r, c = p["grid"], p["rows_per_s"], p["ceiling_ratio"]
        ratio = ["n/a" if c[d] is None else f"{c[d]:.2f}" for d in ("pull", "push")]
        lines.append(f"{g['batch_size']:>9,}{g['dim']:>6}{g['num_ps']:>4}{r['pull']:>15,.0f}"
                     f"{r['push']:>15,.0f}{ratio[0]:>14}{ratio[1]:>14}")
    return "\n".join(lines)
