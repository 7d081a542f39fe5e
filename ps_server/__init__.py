"""The parameter-server process: embedding tables, optimizers, touched keys, dense variables."""

from ps_server.server import PSServer
from ps_server.server_config import ServerConfig

__all__ = ["PSServer", "ServerConfig"]
