"""Generates the Python stubs for proto/ into this package.

protoc names imports after the proto path (``monolith_ps.v1``); they are
rewritten to ``services.pb`` so that nothing is imported as a top-level
``monolith_ps`` or ``proto`` package. ``make proto`` writes the stubs here;
a test regenerates them into a temp directory and fails on any drift.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
PROTO_DIR = PROTO_ROOT / "monolith_ps" / "v1"
OUT_DIR = Path(__file__).resolve().parent
_IMPORT = re.compile(r"^from monolith_ps\.v1 import (\w+)", re.MULTILINE)


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Runs protoc on every proto file; returns the stub files written to out_dir."""
    from grpc_tools import protoc
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(p) for p in proto_files()],
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed: {' '.join(args)}")
        written = []
        for src in sorted((Path(tmp) / "monolith_ps" / "v1").iterdir()):
            if src.suffix not in (".py", ".pyi"):
                continue
            text = _IMPORT.sub(r"from services.pb import \1", src.read_text())
            dst = out_dir / src.name
            dst.write_text(text)
            written.append(dst)
    return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
