"""The Node.js example client (examples/node-client) against real PS shards.

It loads proto/ directly, so this checks the contract as another language sees
it: the rows it pulls, byte for byte, equal what worker.PSClient pulls, for a
float32 and a float16 table, after pushes from either client; its routing
matches the Python shard function; its table info matches; it speaks TLS,
mutual TLS and the bearer token the way the Python client does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from services.security import SecurityConfig
from tests.certs import make_certs
from tests.procs import ROOT, start_ps
from worker import PSClient

NODE_DIR = ROOT / "examples" / "node-client"

_TABLES = [
    {"name": "wide", "dim": 4, "optimizer": {"type": "sgd", "learning_rate": 0.5},
     "initializer": {"type": "random_uniform", "minval": -0.1, "maxval": 0.1, "seed": 1}},
    {"name": "half", "dim": 3, "optimizer": {"type": "adagrad", "learning_rate": 0.1},
     "initializer": {"type": "random_uniform", "minval": -0.1, "maxval": 0.1, "seed": 2},
     "pull_dtype": "fp16"},
]
_DIMS = {t["name"]: t["dim"] for t in _TABLES}
_NUMPY = {"DTYPE_FLOAT32": np.float32, "DTYPE_FLOAT16": np.float16}

# Ids past 2^53 (exact only as BigInt in JavaScript) and negative ones, with a duplicate.
_IDS = [3, 7, 3, -5, 2**62 + 5, 2**53 + 1, -(2**63), 123456789]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install nodejs npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with the example's pinned modules installed (npm ci, from cache if warm)."""
    node = _tool("node")
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [_tool("npm"), "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return node


def _cli(node: str, addresses: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([node, "cli.js", "--ps", ",".join(addresses), *args], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=120)


def _cli_json(node: str, addresses: list[str], *args: str):
    done = _cli(node, addresses, *args)
    assert done.returncode == 0, f"cli.js {args[0]} exited {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


def _json_ids(ids) -> list:
    # Strings keep int64 ids exact through JSON.parse in Node.
    return [str(i) for i in ids]


def _node_pull(node, addresses, ids: dict) -> dict[str, np.ndarray]:
    reply = _cli_json(node, addresses, "pull", json.dumps({t: _json_ids(v) for t, v in ids.items()}))
    out = {}
    for table, r in reply.items():
        dtype = _NUMPY[r["dtype"]]
        from_bytes = np.frombuffer(bytes.fromhex(r["data_hex"]), dtype=np.dtype(dtype).newbyteorder("<"))
        from_bytes = from_bytes.reshape(r["shape"])
        # The decoded numbers and the raw bytes must tell the same story.
        np.testing.assert_array_equal(np.array(r["rows"], dtype=dtype).reshape(r["shape"]), from_bytes)
        out[table] = from_bytes
    return out


def _grads(rng, ids: dict) -> dict[str, np.ndarray]:
    return {t: rng.uniform(-1, 1, (len(v), _DIMS[t])).astype(np.float32) for t, v in ids.items()}


@pytest.fixture
def cluster(ps_factory):
    return [s.address for s in ps_factory(_TABLES, num_shards=2)]


def _assert_same_rows(python_rows: dict, node_rows: dict) -> None:
    assert sorted(python_rows) == sorted(node_rows)
    for table, expected in python_rows.items():
        got = node_rows[table]
        assert got.dtype == expected.dtype, table
        assert got.shape == expected.shape, table
        np.testing.assert_array_equal(got, expected, err_msg=table)


def test_node_pulls_what_python_pulls_after_pushes_from_both(node, cluster):
    ids = {"wide": np.array(_IDS, np.int64), "half": np.array(_IDS[::-1], np.int64)}
    rng = np.random.default_rng(0)

    grads = _grads(rng, ids)
    spec = {t: {"ids": _json_ids(ids[t]), "gradients": grads[t].tolist()} for t in ids}
    pushed = _cli_json(node, cluster, "push", json.dumps(spec))
    distinct = len(set(_IDS))
    assert pushed == {t: {"applied": distinct, "filtered": 0, "created": distinct} for t in ids}

    with PSClient(cluster) as client:
        python_rows = client.pull(ids)
        assert python_rows["wide"].dtype == np.float32
        assert python_rows["half"].dtype == np.float16
        # Pushed rows are initialized then updated: none is left at zero.
        assert all(np.all(np.any(r != 0, axis=1)) for r in python_rows.values())
        # Both shards hold rows, so Node's routing was exercised on both.
        per_shard = [info.rows for info in client.table_info("wide")]
        assert len(per_shard) == 2 and min(per_shard) > 0
        _assert_same_rows(python_rows, _node_pull(node, cluster, ids))

        # The other way round: Python pushes (to old and new ids), Node reads.
        more = {"wide": np.array([7, 11, 2**62 + 5], np.int64), "half": np.array([12, -5], np.int64)}
        client.push(more, _grads(rng, more))
        both = {t: np.concatenate([ids[t], more[t], [99, -99]]) for t in ids}
        python_rows = client.pull(both)
        node_rows = _node_pull(node, cluster, both)
    _assert_same_rows(python_rows, node_rows)
    # Ids never pushed are zeros in both.
    for rows in node_rows.values():
        assert not rows[-2:].any()


def test_sgd_update_seen_by_node_is_the_pushed_gradient(node, cluster):
    ids = {"wide": np.array([41, 42], np.int64)}
    with PSClient(cluster) as client:
        before = client.pull(ids)["wide"]  # zeros: no row yet
        grads = {"wide": np.array([[1, 2, 3, 4], [0.5, 0.5, 0.5, 0.5]], np.float32)}
        spec = {"wide": {"ids": _json_ids(ids["wide"]), "gradients": grads["wide"].tolist()}}
        _cli_json(node, cluster, "push", json.dumps(spec))
        first = _node_pull(node, cluster, ids)["wide"]
        _cli_json(node, cluster, "push", json.dumps(spec))
        second = _node_pull(node, cluster, ids)["wide"]
    assert not before.any()
    # sgd with learning rate 0.5: each push moves a row by -0.5 * gradient.
    np.testing.assert_allclose(first - second, 0.5 * grads["wide"], rtol=1e-6)


def test_node_table_info_matches_python(node, cluster):
    _cli_json(node, cluster, "push", json.dumps(
        {"half": {"ids": ["1", "2", "3"], "gradients": [[0.1, 0.2, 0.3]] * 3}}))
    info = _cli_json(node, cluster, "info")
    with PSClient(cluster) as client:
        shards = client.table_info()
    assert sorted(info) == ["half", "wide"]
    for table in info.values():
        mine = [s for s in shards if s.config.name == table["name"]]
        assert len(mine) == 2
        assert table["dim"] == mine[0].config.dim == _DIMS[table["name"]]
        assert table["rows"] == sum(s.rows for s in mine)
        assert table["bytes"] == sum(s.bytes for s in mine)
        assert table["num_shards"] == 2
        assert [s["name"] for s in table["slots"]] == [s.name for s in mine[0].slots]
    assert info["half"]["rows"] == 3
    assert info["half"]["pull_dtype"] == "DTYPE_FLOAT16"
    assert info["wide"]["pull_dtype"] == "DTYPE_FLOAT32"
    assert info["half"]["optimizer"]["type"] == "adagrad"
    assert info["half"]["optimizer"]["learning_rate"] == pytest.approx(0.1)


def test_node_cli_reports_status_and_exit_codes(node, cluster):
    unknown = _cli(node, cluster, "pull", json.dumps({"nope": ["1"]}))
    assert unknown.returncode == 1
    assert "NOT_FOUND" in unknown.stderr and "nope" in unknown.stderr
    bad_dim = _cli(node, cluster, "push", json.dumps({"wide": {"ids": ["1"], "gradients": [[1.0]]}}))
    assert bad_dim.returncode == 1
    assert "INVALID_ARGUMENT" in bad_dim.stderr and "dim" in bad_dim.stderr
    usage = _cli(node, cluster, "fetch")
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_node_client_over_tls_with_the_token(node, tmp_path):
    certs = make_certs(tmp_path / "certs")
    token_file = tmp_path / "token"
    token_file.write_text("node-test-token-42\n")
    tables = tmp_path / "tables.json"
    tables.write_text(json.dumps({"tables": _TABLES}))
    probe = SecurityConfig(ca_path=certs.ca, client_cert_path=certs.client.cert,
                           client_key_path=certs.client.key)
    server = start_ps(tmp_path, tables, security=probe, extra=[
        "--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key),
        "--auth-token-file", str(token_file), "--tls-require-client-cert", "--tls-ca", str(certs.ca)])
    try:
        tls = ["--tls-ca", str(certs.ca), "--tls-client-cert", str(certs.client.cert),
               "--tls-client-key", str(certs.client.key)]
        ids = {"wide": np.array([5, 6], np.int64)}
        push = json.dumps({"wide": {"ids": ["5", "6"], "gradients": [[1, 1, 1, 1]] * 2}})
        pushed = _cli_json(node, [server.address], *tls, "--auth-token-file", str(token_file),
                           "push", push)
        assert pushed == {"wide": {"applied": 2, "filtered": 0, "created": 2}}
        pulled = _cli_json(node, [server.address], *tls, "--auth-token-file", str(token_file),
                           "pull", json.dumps({"wide": ["5", "6"]}))
        security = SecurityConfig(ca_path=certs.ca, client_cert_path=certs.client.cert,
                                  client_key_path=certs.client.key, token="node-test-token-42")
        with PSClient([server.address], security=security) as client:
            expected = client.pull(ids)["wide"]
        rows = np.frombuffer(bytes.fromhex(pulled["wide"]["data_hex"]), "<f4").reshape(2, 4)
        np.testing.assert_array_equal(rows, expected)
        assert expected.any()

        no_token = _cli(node, [server.address], *tls, "pull", json.dumps({"wide": ["5"]}))
        assert no_token.returncode == 1 and "UNAUTHENTICATED" in no_token.stderr
        plaintext = _cli(node, [server.address], "--deadline-ms", "5000", "pull",
                         json.dumps({"wide": ["5"]}))
        assert plaintext.returncode == 1 and "UNAVAILABLE" in plaintext.stderr
    finally:
        server.stop()
