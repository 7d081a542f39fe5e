"""Service discovery: how PS, controller and workers find each other.

One interface (``ServiceDiscovery``: register, deregister, query, close), one
backend per module (file, TF_CONFIG, MLP env, ZooKeeper, Consul) picked by
``DiscoveryType``, plus cluster waiting, PS cluster files, address helpers and
the Primus runtime client.
"""

from discovery.base import DiscoveryType, ServiceDiscovery
from discovery.cluster import (
    ClusterTimeoutError,
    fetch_ps_cluster_from_file,
    ps_cluster_file_name,
    save_ps_cluster_to_file,
    wait_for_chief,
    wait_for_ps,
)
from discovery.consul import ConsulConfig, ConsulServiceDiscovery, deregister_all
from discovery.factory import DiscoveryConfig, create_discovery
from discovery.file import FileConfig, FileServiceDiscovery
from discovery.mlp import MLPEnv, MLPServiceDiscovery
from discovery.net import (
    AddressFamily,
    NodeAliveChecker,
    concat_ip_and_port,
    get_local_ip,
    get_local_server_addr,
    is_ipv4_supported,
    is_ipv6_address,
    split_addr,
)
from discovery.retry import retry_with_socket_error
from discovery.tf_config import TfConfigServiceDiscovery
from discovery.yarn_runtime import (
    PrimusClient,
    PrimusConfig,
    create_primus_save_point,
    get_local_host,
    maybe_finish_application,
    maybe_kill_application,
)
from discovery.zk import ZKServiceDiscovery
from discovery.zk_utils import ZKConfig, clear_zk_path

__all__ = [
    "AddressFamily",
    "ClusterTimeoutError",
    "ConsulConfig",
    "ConsulServiceDiscovery",
    "DiscoveryConfig",
    "DiscoveryType",
    "FileConfig",
    "FileServiceDiscovery",
    "MLPEnv",
    "MLPServiceDiscovery",
    "NodeAliveChecker",
    "PrimusClient",
    "PrimusConfig",
    "ServiceDiscovery",
    "TfConfigServiceDiscovery",
    "ZKConfig",
    "ZKServiceDiscovery",
    "clear_zk_path",
    "concat_ip_and_port",
    "create_discovery",
    "create_primus_save_point",
    "deregister_all",
    "fetch_ps_cluster_from_file",
    "get_local_host",
    "get_local_ip",
    "get_local_server_addr",
    "is_ipv4_supported",
    "is_ipv6_address",
    "maybe_finish_application",
    "maybe_kill_application",
    "ps_cluster_file_name",
    "retry_with_socket_error",
    "save_ps_cluster_to_file",
    "split_addr",
    "wait_for_chief",
    "wait_for_ps",
]
