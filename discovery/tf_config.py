"""TF_CONFIG discovery: the cluster is fixed by the launcher (e.g. Primus), so nothing registers.

``TF_CONFIG`` is ``{"cluster": {"chief": [...], "worker": [...], "ps": [...]}, "task":
{"type": ..., "index": ...}}``. The chief is worker 0 of this project, so worker
indices shift up by one when a chief is listed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from discovery.base import ServiceDiscovery, check_entry

ENV_VAR = "TF_CONFIG"


class TfConfigServiceDiscovery(ServiceDiscovery):
    """Answers queries from a TF_CONFIG document; ``register``/``deregister`` do nothing."""

    def __init__(self, tf_config: str | Mapping[str, Any] | None = None):
        """``tf_config``: JSON text or a parsed dict; ``None`` reads the TF_CONFIG env var."""
        if tf_config is None:
            tf_config = os.environ.get(ENV_VAR)
            if not tf_config:
                raise ValueError(f"{ENV_VAR} is not set and no tf_config was given")
        if isinstance(tf_config, str):
            try:
                tf_config = json.loads(tf_config)
            except json.JSONDecodeError as err:
                raise ValueError(f"tf_config is not valid JSON: {err}") from None
        parsed = tf_config if isinstance(tf_config, Mapping) else {}
        cluster, task = parsed.get("cluster"), parsed.get("task")
        well_formed = isinstance(cluster, Mapping) and isinstance(task, Mapping)
        if not well_formed:
            raise ValueError("tf_config must be a JSON object with a 'cluster' object and a "
                             f"'task' object, got {tf_config!r:.200}")
        self._cluster = {str(k): [str(a) for a in v] for k, v in cluster.items()}
        self._task_type = str(task.get("type", ""))
        self._task_index = int(task.get("index", 0))
        if self._task_index >= len(self._cluster.get(self._task_type, [])):
            raise ValueError(
                f"task {self._task_type}:{self._task_index} is not in cluster "
                f"{sorted(self._cluster)}")

    def register(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)

    def deregister(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)

    def query(self, name: str) -> dict[int, str]:
        check_entry(name, 0)
        addrs = list(self._cluster.get(name, []))
        if name == "worker":
            addrs = self._cluster.get("chief", []) + addrs
        return dict(enumerate(addrs))

    @property
    def server_type(self) -> str:
        """This task's role; the chief reports as ``worker`` (it is worker 0)."""
        return "worker" if self._task_type == "chief" else self._task_type

    @property
    def index(self) -> int:
        """This task's index within ``server_type``, counting the chief as worker 0."""
        if self._task_type == "worker" and self._cluster.get("chief"):
            return self._task_index + 1
        return self._task_index

    @property
    def addr(self) -> str:
        return self._cluster[self._task_type][self._task_index]
