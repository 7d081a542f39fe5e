"""Benchmark settings validate themselves and name the bad field."""

import pytest

from worker.benchmark.config import (
    Backend,
    Direction,
    GridMode,
    LocalPS,
    RunConfig,
    SweepConfig,
    WorkloadConfig,
)
from worker.benchmark.sweep import grid_points, point_config


@pytest.mark.parametrize("kwargs, field", [
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=1000, vocab=1500), "vocab"),
    (dict(zipf=-1.0), "zipf"),
    (dict(zipf=float("nan")), "zipf"),
    (dict(tables=0), "tables"),
    (dict(seed=-1), "seed"),
])
def test_workload_names_the_bad_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        WorkloadConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [
    (dict(clients=0), "clients"),
    (dict(in_flight=0), "in_flight"),
    (dict(seconds=0.0), "seconds"),
    (dict(ps=("127.0.0.1:1",)), "ps"),
    (dict(local=None), "ps"),
    (dict(local=None, ps=("nohost",)), "ps"),
    (dict(local=None, ps=("h:1", "h:1")), "ps"),
    (dict(local=LocalPS(tables=2)), "tables"),
    (dict(baselines=(Backend.PS,)), "baselines"),
    (dict(baselines=(Backend.REDIS, Backend.REDIS)), "baselines"),
])
def test_run_names_the_bad_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        RunConfig(**kwargs)


def test_operations_ps_first_then_each_baseline():
    config = RunConfig(seconds=12.0, baselines=(Backend.REDIS,))
    assert [op.name for op in config.operations()] == [
        "ps_pull", "ps_push", "redis_pull", "redis_push"]
    assert config.seconds_per_operation == 3.0
    assert all(op.direction is not Direction.STEP for op in config.operations())


def test_axes_grid_varies_one_axis_around_the_base():
    base = RunConfig(workload=WorkloadConfig(batch_size=4096), local=LocalPS(dim=16, num_ps=1))
    sweep = SweepConfig(base, batch_sizes=(1024, 4096), dims=(8, 16), num_ps=(1, 2))
    assert grid_points(sweep) == [
        {"batch_size": 4096, "dim": 16, "num_ps": 1},
        {"batch_size": 1024, "dim": 16, "num_ps": 1},
        {"batch_size": 4096, "dim": 8, "num_ps": 1},
        {"batch_size": 4096, "dim": 16, "num_ps": 2},
    ]
    full = SweepConfig(base, batch_sizes=(1024, 4096), dims=(8,), num_ps=(1, 2),
                       mode=GridMode.FULL)
    assert len(grid_points(full)) == 4
    point = point_config(base, {"batch_size": 1024, "dim": 8, "num_ps": 2})
    assert (point.workload.batch_size, point.local.dim, point.local.num_ps) == (1024, 8, 2)


def test_sweep_cannot_attach_nor_repeat_values():
    attached = RunConfig(local=None, ps=("h:1",))
    with pytest.raises(ValueError, match="cannot attach"):
        SweepConfig(attached)
    with pytest.raises(ValueError, match="dims"):
        SweepConfig(RunConfig(), dims=(8, 8))
    with pytest.raises(ValueError, match="vocab"):
        SweepConfig(RunConfig(workload=WorkloadConfig(vocab=1 << 18)), batch_sizes=(1 << 18,))
