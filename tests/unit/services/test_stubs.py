"""The checked-in stubs are exactly what ``make proto`` generates from proto/."""

from pathlib import Path

from services.pb import generate


def test_checked_in_stubs_match_proto(tmp_path):
    written = generate.generate(tmp_path)
    assert written, "protoc produced no stubs"
    fresh = {p.name: p.read_text() for p in written}
    checked_in = {p.name: p.read_text() for p in generate.OUT_DIR.iterdir()
                  if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))}
    assert sorted(fresh) == sorted(checked_in), "stub files differ from proto/: run `make proto`"
    stale = [name for name in fresh if fresh[name] != checked_in[name]]
    assert not stale, f"stubs drifted from proto/ (run `make proto`): {stale}"


def test_stubs_do_not_import_a_top_level_proto_package():
    for path in Path(generate.OUT_DIR).glob("*_pb2*.py"):
        text = path.read_text()
        assert "from monolith_ps" not in text and "import proto" not in text, path.name
