"""Examples/s of a local cluster (2 PS + 2 workers over gRPC) against the same model trained
in one process with in-process tables, measured in the same run.

    python benchmarks/train_throughput.py [--examples 1000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from worker.config import TrainConfig  # noqa: E402
from worker.local_store import LocalStore  # noqa: E402
from worker.train import Trainer  # noqa: E402


def _config(examples: int) -> dict:
    raw = json.loads((ROOT / "worker" / "examples" / "reference.json").read_text())
    raw["data"]["num_examples"] = examples
    raw["train"]["eval_every"] = 0
    return raw


def in_process(raw: dict) -> float:
    config = TrainConfig.from_dict(raw)
    stats = Trainer(config, LocalStore(config.tables_json())).run()
    return stats.examples / stats.elapsed_s


def cluster(raw: dict, num_ps: int, num_workers: int) -> float:
    """Training examples/s of the cluster: all workers' examples over the slowest worker's time."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(raw))
        model_dir = Path(tmp) / "model"
        subprocess.run([sys.executable, "-m", "services.launcher", "local", "--num-ps",
                        str(num_ps), "--num-workers", str(num_workers), "--model-dir",
                        str(model_dir), "--config", str(config)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
        records = [json.loads(line) for f in (model_dir / "progress").glob("*.jsonl")
                   for line in f.read_text().splitlines() if line.strip()]
        starts, ends, examples = {}, {}, 0
        for path in (model_dir / "progress").glob("*.jsonl"):
            lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            done = [r for r in lines if r.get("done")][-1]
            first = lines[0]
            # time of the first logged step minus its share, to the done record
            rate = (done["examples"] - first["examples"]) / max(done["time"] - first["time"], 1e-9)
            starts[path] = first["time"] - first["examples"] / rate
            ends[path] = done["time"]
            examples += done["examples"]
        assert records
        return examples / (max(ends.values()) - min(starts.values()))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    raw = _config(args.examples)
    in_process(_config(50_000))  # compile and warm caches once
    rows = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        local = in_process(raw)
        dist = cluster(raw, 2, 2)
        rows.append((local, dist))
        print(f"round: in-process {local:,.0f} ex/s, cluster {dist:,.0f} ex/s, "
              f"ratio {dist / local:.2f} ({time.perf_counter() - t0:.0f} s)")
    ratios = sorted(d / loc for loc, d in rows)
    print(f"ps-cluster local (2 PS, 2 workers) / in-process: median {ratios[len(ratios) // 2]:.2f}x "
          f"over {args.rounds} rounds (target >= 0.6x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
