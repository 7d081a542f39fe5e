"""Transport security of every role: TLS (optionally mutual) and a shared bearer token.

A server serves TLS when it has a certificate and key, and checks client
certificates against ``ca_path`` when ``require_client_cert``. A client
speaks TLS when it has a CA to verify the server with (or a client
certificate), presenting its own certificate for mutual TLS. The token, read
from ``--auth-token-file`` or ``$MONOLITH_PS_TOKEN``, travels as
``authorization: Bearer <token>`` metadata and only over TLS: a bearer token
in plaintext is readable by anyone on the path. ``TokenInterceptor`` checks it
on the server; health and reflection stay open to probes.

Every CLI calls ``add_security_args(parser, role)`` and ``security_config(args)``;
servers bind with ``add_port`` and prepend ``server_interceptors``; clients
open ``channel`` (grpc.aio) or ``sync_channel``.
"""

from __future__ import annotations

import argparse
import enum
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

TOKEN_ENV = "MONOLITH_PS_TOKEN"
AUTH_METADATA_KEY = "authorization"
# Probes (health, reflection) answer without a token: liveness checks carry no secret.
OPEN_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


class Role(enum.Enum):
    """Which side of a connection a CLI's process is: it decides the flags it takes."""

    SERVER = "server"
    CLIENT = "client"
    BOTH = "both"  # a launcher: it serves nothing but configures servers and clients

    @property
    def serves(self) -> bool:
        return self is not Role.CLIENT

    @property
    def calls(self) -> bool:
        return self is not Role.SERVER


@dataclass(frozen=True)
class SecurityConfig:
    """TLS files and token of one process; all None: plaintext, no token.

    Server side: ``cert_path``/``key_path`` (PEM chain and key) turn TLS on;
    ``require_client_cert`` makes it mutual, clients verified against ``ca_path``.
    Client side: ``ca_path`` verifies the server (None: the system roots) and
    turns TLS on, as does ``client_cert_path``/``client_key_path`` (mutual TLS);
    ``server_name`` overrides the name checked against the server's certificate.
    ``token`` (from ``token_file`` or ``$MONOLITH_PS_TOKEN``) is required by a
    server and sent by a client.
    """

    cert_path: Path | None = None
    key_path: Path | None = None
    ca_path: Path | None = None
    require_client_cert: bool = False
    client_cert_path: Path | None = None
    client_key_path: Path | None = None
    server_name: str | None = None
    token_file: Path | None = None
    token: str | None = field(default=None, repr=False)

    def __post_init__(self):
        for name in ("cert_path", "key_path", "ca_path", "client_cert_path", "client_key_path",
                     "token_file"):
            value = getattr(self, name)
            if value is None:
                continue
            path = Path(value).expanduser()
            if not path.is_file():
                raise ValueError(f"{name} must be an existing file, got {str(value)!r}")
            object.__setattr__(self, name, path.resolve())
        for cert, key in (("cert_path", "key_path"), ("client_cert_path", "client_key_path")):
            if (getattr(self, cert) is None) != (getattr(self, key) is None):
                raise ValueError(f"{cert} and {key} go together, got only "
                                 f"{cert if getattr(self, cert) else key}")
        if self.require_client_cert and (self.cert_path is None or self.ca_path is None):
            raise ValueError("require_client_cert needs cert_path/key_path (the server's TLS) "
                             "and ca_path (to verify client certificates)")
        if self.server_name is not None and not self.server_name:
            raise ValueError("server_name must be non-empty when given")
        if self.token is not None:
            _check_token(self.token)
            if not (self.server_tls or self.client_tls):
                raise ValueError("an auth token needs TLS (a bearer token in plaintext can be "
                                 "read on the path): give a certificate (server) or a CA (client)")

    @property
    def server_tls(self) -> bool:
        return self.cert_path is not None

    @property
    def client_tls(self) -> bool:
        return self.ca_path is not None or self.client_cert_path is not None

    def check_role(self, role: Role | str) -> None:
        """ValueError when this config cannot run ``role``'s side(s) as configured."""
        role = Role(role)
        if self.token is not None and role.serves and not self.server_tls:
            raise ValueError("an auth token on a server needs its TLS certificate and key "
                             "(--tls-cert, --tls-key)")
        if self.token is not None and role.calls and not self.client_tls:
            raise ValueError("an auth token on a client needs TLS: give --tls-ca")
        if role is Role.BOTH and self.server_tls != self.client_tls:
            raise ValueError("servers and clients must agree on TLS: give --tls-cert/--tls-key "
                             "together with --tls-ca")
        if role is Role.BOTH and self.require_client_cert and self.client_cert_path is None:
            raise ValueError("mutual TLS needs a client certificate for the clients: give "
                             "--tls-client-cert and --tls-client-key")


def _check_token(token: str) -> None:
    if not token or any(not (0x21 <= ord(c) <= 0x7E) for c in token):
        raise ValueError("auth token must be non-empty printable ASCII without spaces")


def read_token(token_file: Path | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The token in ``token_file`` (surrounding whitespace stripped), else ``$MONOLITH_PS_TOKEN``."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"token_file {str(token_file)!r}: {exc}") from exc
        if not token:
            raise ValueError(f"token_file {str(token_file)!r} is empty")
        return token
    return environ.get(TOKEN_ENV, "").strip() or None


# -- command line ---------------------------------------------------------------------------

def add_security_args(parser: argparse.ArgumentParser, role: Role | str) -> None:
    """The TLS and token flags of a ``role`` ("server", "client" or "both") CLI."""
    role = Role(role)
    group = parser.add_argument_group("security")
    if role.serves:
        group.add_argument("--tls-cert", type=Path, metavar="PEM",
                           help="server certificate chain; with --tls-key serves TLS "
                                "(default: plaintext)")
        group.add_argument("--tls-key", type=Path, metavar="PEM", help="server private key")
        group.add_argument("--tls-require-client-cert", action="store_true",
                           help="mutual TLS: clients must present a certificate signed by "
                                "--tls-ca")
    group.add_argument("--tls-ca", type=Path, metavar="PEM",
                       help="CA certificates that verify the peer"
                            + ("" if not role.calls else
                               "; on a client this turns TLS on"))
    if role.calls:
        group.add_argument("--tls-client-cert", type=Path, metavar="PEM",
                           help="client certificate chain presented for mutual TLS")
        group.add_argument("--tls-client-key", type=Path, metavar="PEM",
                           help="client private key")
        group.add_argument("--tls-server-name", metavar="NAME",
                           help="name checked against the server certificate "
                                "(default: the host of the address)")
    group.add_argument("--auth-token-file", type=Path, metavar="FILE",
                       help=f"file holding the shared bearer token (default: ${TOKEN_ENV}, "
                            "if set); needs TLS")
    parser.set_defaults(security_role=role.value)


def security_config(args: argparse.Namespace,
                    environ: Mapping[str, str] = os.environ) -> SecurityConfig | None:
    """The SecurityConfig the flags (and ``$MONOLITH_PS_TOKEN``) describe; None for plaintext.

    Raises ValueError naming the flag or file when the settings are incomplete.
    """
    role = Role(getattr(args, "security_role", Role.CLIENT.value))
    token_file = getattr(args, "auth_token_file", None)
    config = SecurityConfig(
        cert_path=getattr(args, "tls_cert", None),
        key_path=getattr(args, "tls_key", None),
        ca_path=getattr(args, "tls_ca", None),
        require_client_cert=bool(getattr(args, "tls_require_client_cert", False)),
        client_cert_path=getattr(args, "tls_client_cert", None),
        client_key_path=getattr(args, "tls_client_key", None),
        server_name=getattr(args, "tls_server_name", None),
        token_file=token_file,
        token=read_token(token_file, environ),
    )
    config.check_role(role)
    return None if config == SecurityConfig() else config


def security_argv(config: SecurityConfig | None, role: Role | str) -> list[str]:
    """Flags that hand ``config``'s ``role`` side to a child process.

    The token itself never goes on a command line (other users can read it there):
    the child reads the same ``--auth-token-file`` or inherits ``$MONOLITH_PS_TOKEN``.
    """
    if config is None:
        return []
    role = Role(role)
    flags = {"--tls-ca": config.ca_path, "--auth-token-file": config.token_file}
    if role.serves:
        flags.update({"--tls-cert": config.cert_path, "--tls-key": config.key_path})
    if role.calls:
        flags.update({"--tls-client-cert": config.client_cert_path,
                      "--tls-client-key": config.client_key_path,
                      "--tls-server-name": config.server_name})
    out: list[str] = []
    for flag, value in flags.items():
        if value is not None:
            out += [flag, str(value)]
    if role.serves and config.require_client_cert:
        out.append("--tls-require-client-cert")
    return out


# -- server side ----------------------------------------------------------------------------

def server_credentials(config: SecurityConfig) -> grpc.ServerCredentials:
    """TLS credentials of a server (mutual when ``require_client_cert``)."""
    if not config.server_tls:
        raise ValueError("server credentials need cert_path and key_path")
    return grpc.ssl_server_credentials(
        [(config.key_path.read_bytes(), config.cert_path.read_bytes())],
        root_certificates=config.ca_path.read_bytes() if config.ca_path else None,
        require_client_auth=config.require_client_cert,
    )


def add_port(server, address: str, config: SecurityConfig | None) -> int:
    """Binds ``address`` on a grpc or grpc.aio server: TLS with a certificate, else plaintext.

    Returns the bound port (0 when binding failed, as gRPC does).
    """
    if config is not None:
        config.check_role(Role.SERVER)
    if config is not None and config.server_tls:
        return server.add_secure_port(address, server_credentials(config))
    return server.add_insecure_port(address)


def server_interceptors(config: SecurityConfig | None) -> list[grpc.aio.ServerInterceptor]:
    """``[TokenInterceptor]`` when the config has a token, else ``[]``."""
    if config is None or config.token is None:
        return []
    return [TokenInterceptor(config.token)]


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without the shared bearer token, except health and reflection probes.

    No (or a malformed) ``authorization`` entry: UNAUTHENTICATED. Another token:
    PERMISSION_DENIED. The comparison takes the same time wherever tokens differ.
    """

    def __init__(self, token: str, open_prefixes: Sequence[str] = OPEN_METHOD_PREFIXES):
        _check_token(token)
        self._token = token.encode("ascii")
        self._open = tuple(open_prefixes)

    def check(self, metadata) -> tuple[grpc.StatusCode, str] | None:
        """None when ``metadata`` ((key, value) pairs) carries the token, else status and why."""
        values = [v for k, v in (metadata or ()) if k == AUTH_METADATA_KEY]
        if not values:
            return (grpc.StatusCode.UNAUTHENTICATED,
                    f"no auth token: send '{AUTH_METADATA_KEY}: Bearer <token>' metadata "
                    f"(--auth-token-file or ${TOKEN_ENV})")
        value = values[0]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return (grpc.StatusCode.UNAUTHENTICATED,
                    f"malformed '{AUTH_METADATA_KEY}' metadata: expected 'Bearer <token>'")
        if not hmac.compare_digest(token.strip().encode("utf-8"), self._token):
            return grpc.StatusCode.PERMISSION_DENIED, "auth token does not match the server's"
        return None

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._open):
            return handler
        problem = self.check(handler_call_details.invocation_metadata)
        if problem is None:
            return handler
        return _rejecting_handler(handler, *problem)


def _rejecting_handler(handler: grpc.RpcMethodHandler, code: grpc.StatusCode,
                       details: str) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s kind that aborts with ``code``; the request is never decoded."""
    async def reject(request_or_iterator, context):
        await context.abort(code, details)

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            reject, response_serializer=handler.response_serializer)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            reject, response_serializer=handler.response_serializer)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            reject, response_serializer=handler.response_serializer)
    return grpc.stream_stream_rpc_method_handler(
        reject, response_serializer=handler.response_serializer)


# -- client side ----------------------------------------------------------------------------

def channel_credentials(config: SecurityConfig) -> grpc.ChannelCredentials:
    """TLS credentials of a client, with the bearer token attached to every call if set."""
    if not config.client_tls:
        raise ValueError("channel credentials need ca_path or client_cert_path")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=config.ca_path.read_bytes() if config.ca_path else None,
        private_key=config.client_key_path.read_bytes() if config.client_key_path else None,
        certificate_chain=(config.client_cert_path.read_bytes()
                           if config.client_cert_path else None),
    )
    if config.token is not None:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(config.token))
    return credentials


def _options(config: SecurityConfig | None, options: Sequence) -> list:
    options = list(options or ())
    if config is not None and config.server_name:
        options.append(("grpc.ssl_target_name_override", config.server_name))
    return options


def channel(address: str, config: SecurityConfig | None = None,
            options: Sequence = ()) -> grpc.aio.Channel:
    """A grpc.aio channel to ``address``: TLS (and token) per ``config``, else plaintext."""
    if config is not None:
        config.check_role(Role.CLIENT)
    if config is not None and config.client_tls:
        return grpc.aio.secure_channel(address, channel_credentials(config),
                                       options=_options(config, options))
    return grpc.aio.insecure_channel(address, options=_options(config, options))


def sync_channel(address: str, config: SecurityConfig | None = None,
                 options: Sequence = ()) -> grpc.Channel:
    """The blocking-grpc twin of ``channel``."""
    if config is not None:
        config.check_role(Role.CLIENT)
    if config is not None and config.client_tls:
        return grpc.secure_channel(address, channel_credentials(config),
                                   options=_options(config, options))
    return grpc.insecure_channel(address, options=_options(config, options))
