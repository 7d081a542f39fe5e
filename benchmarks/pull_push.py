"""Pull and Push of one PS beside the transport ceiling and Redis, in the targets' setup.

A thin wrapper over ``ps-benchmark run`` (``worker/benchmark``) fixing the
configuration the project's targets are stated for: 1 PS, 1 client process
with 2 requests in flight, dim 16 fp32, 65,536 unique ids per request,
Adagrad. Further flags go to ``ps-benchmark run`` and win over these.

    python benchmarks/pull_push.py [--seconds 80] [--json out.json] [--plot out.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.benchmark.__main__ import main  # noqa: E402

TARGET_SETUP = ["--num-ps", "1", "--clients", "1", "--in-flight", "2", "--dim", "16",
                "--batch-size", "65536", "--optimizer", "adagrad"]

if __name__ == "__main__":
    sys.exit(main(["run", *TARGET_SETUP, *sys.argv[1:]]))
