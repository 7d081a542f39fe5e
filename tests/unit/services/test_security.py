"""services.security: config validation, token reading, flags, the token check, and a real
in-process grpc.aio server on loopback; every CLI takes the flags."""

from __future__ import annotations

import argparse
import asyncio

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.security import (
    TOKEN_ENV,
    SecurityConfig,
    TokenInterceptor,
    add_port,
    add_security_args,
    channel,
    read_token,
    security_argv,
    security_config,
    server_interceptors,
)
from tests.certs import make_certs

TOKEN = "unit-token-42"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"\n  {TOKEN}  \n")
    return path


# -- config ---------------------------------------------------------------------------------

def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="ca_path must be an existing file"):
        SecurityConfig(ca_path=tmp_path / "nope.pem")


def test_cert_without_key_is_refused(certs):
    with pytest.raises(ValueError, match="cert_path and key_path go together"):
        SecurityConfig(cert_path=certs.server.cert)
    with pytest.raises(ValueError, match="client_cert_path and client_key_path"):
        SecurityConfig(ca_path=certs.ca, client_key_path=certs.client.key)


def test_mutual_tls_needs_a_ca_and_a_server_certificate(certs):
    with pytest.raises(ValueError, match="require_client_cert"):
        SecurityConfig(cert_path=certs.server.cert, key_path=certs.server.key,
                       require_client_cert=True)


def test_token_needs_tls(certs):
    with pytest.raises(ValueError, match="needs TLS"):
        SecurityConfig(token=TOKEN)
    assert SecurityConfig(ca_path=certs.ca, token=TOKEN).client_tls


@pytest.mark.parametrize("token", ["", "two words", "tab\there", "caf\u00e9"])
def test_token_must_be_printable_ascii(certs, token):
    with pytest.raises(ValueError, match="printable ASCII"):
        SecurityConfig(ca_path=certs.ca, token=token)


def test_token_is_not_in_repr(certs):
    assert TOKEN not in repr(SecurityConfig(ca_path=certs.ca, token=TOKEN))


def test_token_from_file_is_stripped_and_wins_over_env(token_file):
    assert read_token(token_file, {TOKEN_ENV: "from-env"}) == TOKEN
    assert read_token(None, {TOKEN_ENV: " from-env\n"}) == "from-env"
    assert read_token(None, {}) is None


def test_empty_token_file_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text(" \n")
    with pytest.raises(ValueError, match="is empty"):
        read_token(empty, {})


# -- flags ----------------------------------------------------------------------------------

def _parse(role: str, argv: list[str], environ=None) -> SecurityConfig | None:
    parser = argparse.ArgumentParser()
    add_security_args(parser, role)
    return security_config(parser.parse_args(argv), environ or {})


def test_no_flags_is_plaintext():
    assert _parse("server", []) is None
    assert _parse("client", []) is None
    assert _parse("both", []) is None


def test_server_flags(certs, token_file):
    cfg = _parse("server", ["--tls-cert", str(certs.server.cert), "--tls-key",
                            str(certs.server.key), "--tls-ca", str(certs.ca),
                            "--tls-require-client-cert", "--auth-token-file", str(token_file)])
    assert cfg.server_tls and cfg.require_client_cert and cfg.token == TOKEN
    assert cfg.ca_path == certs.ca.resolve()


def test_server_role_has_no_client_flags():
    with pytest.raises(SystemExit):
        _parse("server", ["--tls-client-cert", "x.pem"])
    with pytest.raises(SystemExit):
        _parse("client", ["--tls-cert", "x.pem"])


def test_env_token_on_a_plaintext_server_is_refused():
    with pytest.raises(ValueError, match="needs TLS"):
        _parse("server", [], {TOKEN_ENV: TOKEN})


def test_server_token_needs_the_server_certificate(certs, token_file):
    with pytest.raises(ValueError, match="--tls-cert"):
        _parse("server", ["--tls-ca", str(certs.ca), "--auth-token-file", str(token_file)])


def test_launcher_sides_must_agree(certs):
    with pytest.raises(ValueError, match="agree on TLS"):
        _parse("both", ["--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key)])
    with pytest.raises(ValueError, match="client certificate"):
        _parse("both", ["--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key),
                        "--tls-ca", str(certs.ca), "--tls-require-client-cert"])


def test_argv_hands_each_side_on_without_the_token(certs, token_file):
    both = _parse("both", [
        "--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key),
        "--tls-ca", str(certs.ca), "--tls-require-client-cert",
        "--tls-client-cert", str(certs.client.cert), "--tls-client-key", str(certs.client.key),
        "--tls-server-name", "localhost", "--auth-token-file", str(token_file)])
    server_argv, client_argv = security_argv(both, "server"), security_argv(both, "client")
    assert TOKEN not in " ".join(server_argv + client_argv)
    server = _parse("server", server_argv)
    client = _parse("client", client_argv)
    assert (server.cert_path, server.key_path, server.ca_path, server.require_client_cert,
            server.token) == (both.cert_path, both.key_path, both.ca_path, True, TOKEN)
    assert (client.ca_path, client.client_cert_path, client.client_key_path, client.server_name,
            client.token) == (both.ca_path, both.client_cert_path, both.client_key_path,
                              "localhost", TOKEN)
    assert security_argv(None, "server") == []


# -- the token check ------------------------------------------------------------------------

@pytest.mark.parametrize("metadata, code", [
    ((), grpc.StatusCode.UNAUTHENTICATED),
    ((("authorization", f"Basic {TOKEN}"),), grpc.StatusCode.UNAUTHENTICATED),
    ((("authorization", "Bearer "),), grpc.StatusCode.UNAUTHENTICATED),
    ((("authorization", f"Bearer {TOKEN}x"),), grpc.StatusCode.PERMISSION_DENIED),
    ((("authorization", f"Bearer {TOKEN[:-1]}"),), grpc.StatusCode.PERMISSION_DENIED),
    ((("x-other", "1"), ("authorization", f"Bearer {TOKEN}")), None),
    ((("authorization", f"bearer {TOKEN}"),), None),
])
def test_token_check(metadata, code):
    problem = TokenInterceptor(TOKEN).check(metadata)
    assert (problem and problem[0]) == code


def test_interceptors_only_with_a_token(certs):
    assert server_interceptors(None) == []
    assert server_interceptors(SecurityConfig(ca_path=certs.ca)) == []
    assert len(server_interceptors(SecurityConfig(ca_path=certs.ca, token=TOKEN))) == 1


# -- a real server in this process ----------------------------------------------------------

async def _serve_and_call(server_cfg: SecurityConfig, client_cfgs: dict) -> dict:
    async def echo(request, context):
        return request

    async def echo_stream(request, context):
        yield request

    server = grpc.aio.server(interceptors=server_interceptors(server_cfg))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(echo),
        "Stream": grpc.unary_stream_rpc_method_handler(echo_stream)})])
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = add_port(server, "127.0.0.1:0", server_cfg)
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    out = {}
    try:
        for name, cfg in client_cfgs.items():
            async with channel(f"127.0.0.1:{port}", cfg) as ch:
                for method in ("Unary", "Stream", "Health"):
                    try:
                        if method == "Unary":
                            await ch.unary_unary("/test.Echo/Unary")(b"x", timeout=10)
                        elif method == "Stream":
                            _ = [r async for r in ch.unary_stream("/test.Echo/Stream")(
                                b"x", timeout=10)]
                        else:
                            await health_pb2_grpc.HealthStub(ch).Check(
                                health_pb2.HealthCheckRequest(), timeout=10)
                        out[name, method] = grpc.StatusCode.OK
                    except grpc.aio.AioRpcError as exc:
                        out[name, method] = exc.code()
    finally:
        await server.stop(0)
    return out


def test_tls_server_with_token_in_process(certs):
    server_cfg = SecurityConfig(cert_path=certs.server.cert, key_path=certs.server.key,
                                token=TOKEN)
    codes = asyncio.run(_serve_and_call(server_cfg, {
        "plaintext": None,
        "no-token": SecurityConfig(ca_path=certs.ca),
        "wrong": SecurityConfig(ca_path=certs.ca, token="other"),
        "right": SecurityConfig(ca_path=certs.ca, token=TOKEN),
        "by-name": SecurityConfig(ca_path=certs.ca, token=TOKEN, server_name="localhost"),
    }))
    ok, unauth = grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED
    denied, unavailable = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAVAILABLE
    assert codes == {
        ("plaintext", "Unary"): unavailable, ("plaintext", "Stream"): unavailable,
        ("plaintext", "Health"): unavailable,
        ("no-token", "Unary"): unauth, ("no-token", "Stream"): unauth, ("no-token", "Health"): ok,
        ("wrong", "Unary"): denied, ("wrong", "Stream"): denied, ("wrong", "Health"): ok,
        ("right", "Unary"): ok, ("right", "Stream"): ok, ("right", "Health"): ok,
        ("by-name", "Unary"): ok, ("by-name", "Stream"): ok, ("by-name", "Health"): ok,
    }


def test_plaintext_server_stays_plaintext(certs):
    codes = asyncio.run(_serve_and_call(SecurityConfig(), {
        "plaintext": None, "tls": SecurityConfig(ca_path=certs.ca)}))
    assert codes["plaintext", "Unary"] == grpc.StatusCode.OK
    assert codes["tls", "Unary"] == grpc.StatusCode.UNAVAILABLE


# -- every CLI takes the flags --------------------------------------------------------------

def test_ps_server_flags_and_loopback_metrics_default(certs, token_file, tmp_path):
    from ps_server.__main__ import parse_args

    tables = tmp_path / "tables.json"
    tables.write_text("{}")
    config = parse_args(["--tables", str(tables), "--metrics-port", "0"], environ={})
    assert config.metrics_host == "127.0.0.1" and config.security is None
    config = parse_args(["--tables", str(tables), "--tls-cert", str(certs.server.cert),
                         "--tls-key", str(certs.server.key), "--auth-token-file", str(token_file)],
                        environ={})
    assert config.security.server_tls and config.security.token == TOKEN


def test_ps_server_refuses_a_token_without_tls(tmp_path, capsys):
    from ps_server.__main__ import parse_args

    tables = tmp_path / "tables.json"
    tables.write_text("{}")
    with pytest.raises(SystemExit) as info:
        parse_args(["--tables", str(tables)], environ={TOKEN_ENV: TOKEN})
    assert info.value.code == 2 and "needs TLS" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "export", "evaluate"])
def test_worker_cli_flags(certs, token_file, tmp_path, command):
    from worker.__main__ import parse_args

    args = parse_args([command, "--model-dir", str(tmp_path), "--tls-ca", str(certs.ca),
                       "--tls-client-cert", str(certs.client.cert),
                       "--tls-client-key", str(certs.client.key),
                       "--auth-token-file", str(token_file), "--rpc-timeout-s", "5",
                       "--max-message-bytes", "4194304"], environ={})
    assert args.security.client_tls and args.security.token == TOKEN
    assert (args.rpc_timeout_s, args.max_message_bytes) == (5.0, 4194304)
    defaults = parse_args([command, "--model-dir", str(tmp_path)], environ={})
    assert defaults.security is None and defaults.rpc_timeout_s == 30.0
    assert defaults.max_message_bytes == 1 << 30
    if command == "train":
        assert defaults.metrics_host == "127.0.0.1"


def test_ps_cluster_local_flags(certs, token_file, tmp_path):
    from services.launcher.__main__ import parse_args

    config = parse_args(["local", "--num-ps", "1", "--num-workers", "1", "--model-dir",
                         str(tmp_path), "--tls-cert", str(certs.server.cert), "--tls-key",
                         str(certs.server.key), "--tls-ca", str(certs.ca),
                         "--auth-token-file", str(token_file)])
    assert config.security.server_tls and config.security.client_tls
    assert config.security.token == TOKEN


def test_ps_benchmark_flags(certs, token_file):
    from worker.benchmark.cli import UsageError, build_parser, run_config, select_configs

    flags = ["--tls-ca", str(certs.ca), "--auth-token-file", str(token_file)]
    run = run_config(build_parser().parse_args(["run", "--ps", "127.0.0.1:1", *flags]))
    assert run.security.token == TOKEN
    _, settings = select_configs(build_parser().parse_args(
        ["select", "--ps", "127.0.0.1:1", "--num-ps-required", "1", *flags]))
    assert settings.security.ca_path == certs.ca.resolve()
    with pytest.raises(ValueError, match="give --ps"):
        run_config(build_parser().parse_args(["run", *flags]))
    with pytest.raises(UsageError):
        build_parser().parse_args(["sweep", *flags])
