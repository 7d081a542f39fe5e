"""``ps-benchmark``: entry point. Errors are one stderr line: exit 2 for usage, 1 for failure."""

from __future__ import annotations

import sys

from worker.benchmark.cli import (
    UsageError,
    build_parser,
    run_config,
    select_configs,
    sweep_config,
)
from worker.benchmark.types import BenchmarkError

_PROG = "ps-benchmark"


def _run(args) -> int:
    from worker.benchmark.facts import machine_facts
    from worker.benchmark.progress import Progress
    from worker.benchmark.report import describe, run_document, run_table, write_json
    from worker.benchmark.runner import check_workload, run_benchmark

    config = _usage(args, run_config, "run")
    _usage(config, check_workload, "run")
    progress = Progress(config.seconds)
    try:
        result = run_benchmark(config, progress)
    finally:
        progress.close()
    print(run_table(result))
    if args.json_path:
        write_json(args.json_path, run_document(result, machine_facts()))
    if args.plot_path:
        from worker.benchmark.plot import plot_run

        plot_run(result.stats, describe(config, result.tables), args.plot_path)
    return 0


def _sweep(args) -> int:
    from worker.benchmark.facts import machine_facts
    from worker.benchmark.progress import Progress
    from worker.benchmark.report import write_json
    from worker.benchmark.sweep import (
        AXES,
        check_grid,
        grid_points,
        run_sweep,
        sweep_document,
        sweep_table,
    )

    config = _usage(args, sweep_config, "sweep")
    _usage(config, check_grid, "sweep")
    points = len(grid_points(config))
    progress = Progress(points * config.base.seconds)
    try:
        result = run_sweep(config, progress)
    finally:
        progress.close()
    print(sweep_table(result))
    if args.json_path:
        write_json(args.json_path, sweep_document(result, machine_facts()))
    if args.plot_path:
        from worker.benchmark.plot import plot_sweep

        plot_sweep(result.points(), list(AXES), args.plot_path)
    return 0


def _select(args) -> int:
    from worker.benchmark.progress import Progress
    from worker.benchmark.select import publish, select_ps, wait_published

    config, settings = _usage(args, select_configs, "select")
    if config.index != 0 and not config.ps_str_overridden:
        selected = wait_published(args.out, args.wait_s)
    else:
        progress = Progress(len(config.ps_list) * config.benchmark_secs)
        lines: list[str] = []
        try:
            selected = select_ps(config, settings, progress=progress, report=lines.append)
        finally:
            progress.close()
        for line in lines:
            print(line, file=sys.stderr)
        if args.out:
            publish(args.out, selected)
    print(",".join(selected))
    return 0


def _usage(value, build, command: str):
    """``build(value)``, with its ValueError reported as a usage error of ``command``."""
    try:
        return build(value)
    except ValueError as exc:
        raise UsageError(f"{_PROG} {command}: {exc}") from exc


_COMMANDS = {"run": _run, "sweep": _sweep, "select": _select}


def main(argv: list[str] | None = None) -> int:
    """Runs ``ps-benchmark`` with ``argv`` (default: sys.argv[1:]); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    except (BenchmarkError, OSError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
