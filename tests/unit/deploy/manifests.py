"""Reading the deployment files as the roles would: manifests rendered, commands parsed by the CLIs.

``render(dir)`` follows a kustomization's ``resources`` and applies its ``patches`` as
strategic merges of maps (what the overlays here use); ``role_config`` runs a
container's command through the image's entrypoint and then the role's own parser.
"""

from __future__ import annotations

import copy
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
DOCKER = ROOT / "docker"


def load_entrypoint():
    """docker/entrypoint.py as a module (it is copied into the image, not packaged)."""
    spec = importlib.util.spec_from_file_location("monolith_ps_entrypoint", DOCKER / "entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render(directory: Path) -> list[dict]:
    """The resources ``kubectl apply -k directory`` would create."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        resources += render(path) if path.is_dir() else load_documents(path)
    for patch in kustomization.get("patches", []):
        for doc in load_documents(directory / patch["path"]):
            key = (doc["kind"], doc["metadata"]["name"])
            matches = [i for i, r in enumerate(resources)
                       if (r["kind"], r["metadata"]["name"]) == key]
            assert matches, f"patch {patch['path']} targets {key}, which no resource defines"
            for i in matches:
                resources[i] = _merge(resources[i], doc)
    return resources


def by_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@dataclass
class Container:
    """One container of a workload, with the environment its process would see."""

    workload: dict
    spec: dict
    env: dict[str, str]

    @property
    def ports(self) -> dict[str, int]:
        return {p["name"]: p["containerPort"] for p in self.spec.get("ports", [])}

    @property
    def annotations(self) -> dict[str, str]:
        return self.workload["spec"]["template"]["metadata"].get("annotations", {})

    def mount(self, path_prefix: str) -> dict:
        """The volume mounted at the longest mount path that is a prefix of ``path_prefix``."""
        mounts = [m for m in self.spec.get("volumeMounts", [])
                  if path_prefix == m["mountPath"]
                  or path_prefix.startswith(m["mountPath"].rstrip("/") + "/")]
        assert mounts, f"{self.spec['name']}: nothing mounted at {path_prefix}"
        mount = max(mounts, key=lambda m: len(m["mountPath"]))
        volumes = {v["name"]: v for v in self.workload["spec"]["template"]["spec"]["volumes"]}
        return {"mount": mount, "volume": volumes[mount["name"]]}


#: Env vars read by libraries rather than this project's code (one BLAS thread per worker).
LIBRARY_ENV = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}


def containers(resources: list[dict]) -> list[Container]:
    """Every container of every workload; downward-API values become index 0."""
    config_maps = by_kind(resources, "ConfigMap")
    out = []
    for workload in resources:
        if workload["kind"] not in ("StatefulSet", "Deployment", "Job"):
            continue
        for spec in workload["spec"]["template"]["spec"]["containers"]:
            env: dict[str, str] = {}
            for source in spec.get("envFrom", []):
                env.update(config_maps[source["configMapRef"]["name"]]["data"])
            for var in spec.get("env", []):
                env[var["name"]] = var["value"] if "value" in var else "0"
            if workload["kind"] == "Job" and workload["spec"].get("completionMode") == "Indexed":
                env.setdefault("JOB_COMPLETION_INDEX", "0")  # the Job controller sets it
            out.append(Container(workload, spec, env))
    return out


def role_config(args: list[str], env: dict[str, str]):
    """(role, parsed config) for a container's args, through the entrypoint and the role's parser.

    ps -> ServerConfig, controller -> ControllerConfig, worker -> argparse namespace of
    ``python -m worker train``. SystemExit (argparse's error) propagates.
    """
    entrypoint = load_entrypoint()
    role, command, child_env = entrypoint.resolve(args, env)
    role_args = command[len(entrypoint.ROLES[role]):]
    if role == "ps":
        from ps_server.__main__ import parse_args
        return role, parse_args(role_args, environ=child_env), child_env
    if role == "controller":
        from services.controller.__main__ import parse_args
        return role, parse_args(role_args, environ=child_env)[0], child_env
    from worker.__main__ import parse_args
    return role, parse_args(["train", *role_args], environ=child_env), child_env


_SOURCE_DIRS = ("ps_server", "worker", "services", "discovery")
_MLP_LAYOUT = re.compile(r"^MLP_[A-Z]+_(NUM|ALL_HOSTS|\d+_PORT)$")


def code_reads_env(name: str) -> bool:
    """True when the project's code (or the image's entrypoint) reads env var ``name``.

    MLP layout names (``MLP_<ROLE>_NUM``, ``_ALL_HOSTS``, ``_<i>_PORT``) are built from
    the role at run time in discovery/mlp.py, so their pattern counts.
    """
    if _MLP_LAYOUT.match(name):
        return True
    pattern = re.compile(r"[\"']" + re.escape(name) + r"[\"']")
    files = [DOCKER / "entrypoint.py", DOCKER / "healthcheck.py"]
    for directory in _SOURCE_DIRS:
        files += [p for p in (ROOT / directory).rglob("*.py") if "pb" not in p.parts]
    return any(pattern.search(p.read_text(errors="replace")) for p in files)
