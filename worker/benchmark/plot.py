"""PNG charts of runs and sweeps, drawn with matplotlib's Agg canvas (no display needed)."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from services.files import write_bytes_atomic as write_atomic
from worker.benchmark.stats import OpStats

_STYLE = {"ps": ("-", 2.4), "transfer": ("--", 1.4), "transfer_proto": ("-.", 1.4),
          "redis": (":", 1.8)}


def _save(fig: Figure, path: str | Path) -> None:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(path, buf.getvalue())


def plot_run(stats: dict[str, OpStats], title: str, path: str | Path) -> None:
    """Rows/s over time, one panel per direction; the PS solid, baselines dashed beside it."""
    directions = [d for d in ("pull", "push") if any(s.direction == d for s in stats.values())]
    fig = Figure(figsize=(10, 4.2 * len(directions)))
    for i, direction in enumerate(directions):
        ax = fig.add_subplot(len(directions), 1, i + 1)
        for s in stats.values():
            if s.direction != direction:
                continue
            style, width = _STYLE.get(s.backend, ("-", 1.0))
            label = f"{s.backend.replace('_', ' ')} ({s.rows_per_s / 1e6:.2f} M rows/s)"
            ax.plot(s.timeline_s, [r / 1e6 for r in s.timeline_rows_per_s], style,
                    linewidth=width, label=label, marker="o", markersize=2.5)
        ax.set_title(direction.capitalize())
        ax.set_xlabel("seconds into the measuring window")
        ax.set_ylabel("M rows/s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_sweep(points: list[dict], axes: list[tuple[str, str]], path: str | Path) -> None:
    """For each grid axis: PS rows/s and PS / ceiling ratio against that axis.

    ``points``: {"grid": {axis: value}, "rows_per_s": {"pull": x, "push": y},
    "ceiling_ratio": {"pull": r or None, "push": r or None}}; ``axes``: (key, label).
    Points that agree on the other axes are joined by a line; points alone on theirs
    (the other axes' variations, in AXES mode) are left out unless no line exists.
    """
    fig = Figure(figsize=(5 * len(axes), 8))
    for col, (key, label) in enumerate(axes):
        top = fig.add_subplot(2, len(axes), col + 1)
        bottom = fig.add_subplot(2, len(axes), len(axes) + col + 1)
        groups: dict[tuple, list[dict]] = {}
        for p in points:
            rest = tuple((k, v) for k, v in sorted(p["grid"].items()) if k != key)
            groups.setdefault(rest, []).append(p)
        lines = {rest: m for rest, m in groups.items() if len(m) > 1} or groups
        for rest, members in lines.items():
            members.sort(key=lambda p: p["grid"][key])
            xs = [p["grid"][key] for p in members]
            tag = ", ".join(f"{k}={v}" for k, v in rest)
            for direction, style in (("pull", "-o"), ("push", "--s")):
                ys = [p["rows_per_s"][direction] / 1e6 for p in members]
                top.plot(xs, ys, style, markersize=4, label=f"{direction} [{tag}]")
                rs = [p["ceiling_ratio"].get(direction) for p in members]
                if any(r is not None for r in rs):
                    bottom.plot(xs, [float("nan") if r is None else r for r in rs], style,
                                markersize=4, label=f"{direction} [{tag}]")
        ticks = sorted({p["grid"][key] for p in points})
        for ax, ylabel in ((top, "PS M rows/s"), (bottom, "PS / transfer ceiling")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
