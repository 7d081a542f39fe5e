"""``ps-cluster local``: one process per role on this machine, supervised to the end of training."""

from services.launcher.cluster import LocalCluster
from services.launcher.config import LocalClusterConfig
from services.launcher.modeldir import ClusterError, UsageError
from services.launcher.supervisor import Child, Supervisor

__all__ = ["Child", "ClusterError", "LocalCluster", "LocalClusterConfig", "Supervisor",
           "UsageError"]
