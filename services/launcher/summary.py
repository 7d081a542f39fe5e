"""The end-of-run report: a text summary for the terminal and a PNG of loss and AUC over steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.launcher.progress import format_count
from services.launcher.records import TrainingProgress, TrainingResult


@dataclass(frozen=True)
class RunFacts:
    """What the launcher itself knows about the run."""

    num_ps: int
    num_workers: int
    wall_s: float
    logs: tuple[tuple[str, Path], ...]
    plot_path: Path | None = None
    outcome: str = "finished"


def format_summary(facts: RunFacts, result: TrainingResult | None,
                   progress: TrainingProgress) -> str:
    """The summary block: throughput, eval AUC beside the Bayes-optimal AUC, plot and log paths.

    Figures come from the chief's result when it wrote one, else from the progress lines.
    """
    mode = f", {result.mode}" if result is not None and result.mode else ""
    lines = [f"ps-cluster: training {facts.outcome} in {facts.wall_s:.1f} s "
             f"({facts.num_ps} ps, {facts.num_workers} workers{mode})"]
    if result is not None and result.steps is not None:
        steps, examples = result.steps, result.examples
        elapsed = result.elapsed_s or facts.wall_s
        auc, logloss = result.eval_auc, result.eval_logloss
    else:
        lines.append("  (no result.json from the chief: figures from the progress files)")
        steps, examples, elapsed = progress.steps, progress.examples, facts.wall_s
        last_eval = progress.evals[-1] if progress.evals else None
        auc = last_eval.auc if last_eval else None
        logloss = last_eval.logloss if last_eval else None
    if elapsed and elapsed > 0:
        lines.append(f"  steps         {steps} in {elapsed:.1f} s, {steps / elapsed:.1f} steps/s")
        if examples is not None:
            lines.append(f"  examples      {format_count(examples)}, "
                         f"{format_count(examples / elapsed)} examples/s")
    lines.append("  eval AUC      " + _auc_line(auc, result))
    extra = []
    if logloss is not None:
        extra.append(f"logloss {logloss:.4f}")
    if result is not None and result.calibration is not None:
        extra.append(f"calibration {result.calibration:.3f}")
    if extra:
        lines.append("  eval          " + ", ".join(extra))
    if facts.plot_path is not None:
        lines.append(f"  plot          {facts.plot_path}")
    lines.extend(format_logs(facts.logs))
    return "\n".join(lines)


def _auc_line(auc: float | None, result: TrainingResult | None) -> str:
    text = "none (no evaluation ran)" if auc is None else f"{auc:.4f}"
    bayes = result.bayes_auc if result is not None else None
    if bayes is not None:
        text += f"   Bayes-optimal {bayes:.4f}"
        if auc is not None:
            text += f" (gap {bayes - auc:+.4f})"
    if result is not None and result.baseline_auc is not None:
        text += f"   baseline {result.baseline_auc:.4f}"
    return text


def format_logs(logs: tuple[tuple[str, Path], ...] | list[tuple[str, Path]]) -> list[str]:
    """One ``logs`` line per process: its name and log path."""
    width = max((len(name) for name, _ in logs), default=0)
    return [f"  {'logs' if i == 0 else '':<12}  {name:<{width}}  {path}"
            for i, (name, path) in enumerate(logs)]


def write_plot(path: Path, progress: TrainingProgress,
               result: TrainingResult | None) -> Path | None:
    """Loss (per worker) and eval AUC over steps, Bayes-optimal AUC as a line; None if no data."""
    if not progress.losses and not progress.evals:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, auc_ax = fig.subplots(1, 2, sharex=True)
    for worker in sorted({p.worker for p in progress.losses}):
        points = sorted((p.step, p.loss) for p in progress.losses if p.worker == worker)
        loss_ax.plot(*zip(*points), linewidth=1, label=f"worker {worker}")
    loss_ax.set(title="training loss", xlabel="step (per worker)", ylabel="loss")
    if progress.losses:
        loss_ax.legend(loc="upper right", fontsize="small")
    for worker in sorted({p.worker for p in progress.evals}):
        points = sorted((p.step, p.auc) for p in progress.evals if p.worker == worker)
        auc_ax.plot(*zip(*points), marker="o", markersize=3, label=f"eval AUC (worker {worker})")
    if result is not None and result.bayes_auc is not None:
        auc_ax.axhline(result.bayes_auc, color="black", linestyle="--",
                       label=f"Bayes-optimal {result.bayes_auc:.4f}")
    if result is not None and result.baseline_auc is not None:
        auc_ax.axhline(result.baseline_auc, color="grey", linestyle=":",
                       label=f"baseline {result.baseline_auc:.4f}")
    auc_ax.set(title="eval AUC", xlabel="step (per worker)", ylabel="AUC")
    if not progress.evals:
        auc_ax.text(0.5, 0.5, "no evaluation ran", ha="center", va="center",
                    transform=auc_ax.transAxes)
    if auc_ax.get_legend_handles_labels()[0]:
        auc_ax.legend(loc="best", fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path
