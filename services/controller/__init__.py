"""The training controller: barrier, worker progress, checkpoints (Monolith's server_lib)."""

ADDR_FILE = "controller_addr"
