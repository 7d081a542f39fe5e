"""deploy/grafana/monolith-ps-dashboard.json: importable by Grafana, and every query names real metrics.

The metric names are not listed here: a real PS is built in-process with a
fresh registry, serves a few Pulls and Pushes over loopback, and its registry's
exposition (generate_latest) is what each panel's PromQL is checked against,
label names included.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ps_server.config import TablesConfig
from ps_server.server import PSServer
from ps_server.server_config import ServerConfig
from worker import AsyncPSClient, PSClientError

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "monolith-ps-dashboard.json"

# Variables Grafana defines itself.
_BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}
# Labels Prometheus attaches to every scraped series.
_TARGET_LABELS = {"job", "instance"}
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                 "and", "or", "unless", "offset"}

_TABLES = {
    "tables": [
        {"name": "user", "dim": 4, "optimizer": {"type": "sgd", "learning_rate": 0.1},
         "initializer": {"type": "zeros"}},
        {"name": "item", "dim": 2, "optimizer": {"type": "adagrad"},
         "initializer": {"type": "zeros"}, "pull_dtype": "fp16"},
    ],
}


async def _serve_and_scrape(registry: CollectorRegistry) -> str:
    config = ServerConfig(tables_path="(in memory)", host="127.0.0.1", port=0, threads=2, grace_s=0)
    server = PSServer(config, TablesConfig.from_dict(_TABLES), registry=registry)
    port = await server.start()
    try:
        async with AsyncPSClient([f"127.0.0.1:{port}"]) as client:
            ids = {"user": np.array([1, 2, 3], np.int64), "item": np.array([4], np.int64)}
            await client.push(ids, {"user": np.ones((3, 4), np.float32),
                                    "item": np.ones((1, 2), np.float32)})
            await client.pull(ids)
            with pytest.raises(PSClientError):
                await client.pull({"missing": np.array([1], np.int64)})
    finally:
        await server.stop(0)
    return generate_latest(registry).decode()


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Sample name -> its label names, as a PS with the default prefix exposes them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MONOLITH_METRIC_PREFIX", raising=False)
        text = asyncio.run(_serve_and_scrape(CollectorRegistry()))
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _variables(dashboard: dict) -> dict[str, dict]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def _panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _expressions(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in _panels(dashboard) for t in p["targets"]]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", var["definition"]))
    return exprs


def _substitute(expr: str, dashboard: dict) -> str:
    """Expands the prefix variable to its default; other variables only sit inside strings or []."""
    prefix = _variables(dashboard)["prefix"]["current"]["value"]
    return expr.replace("${prefix}", prefix).replace("$prefix", prefix)


def parse_promql(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) one PromQL expression refers to.

    Enough PromQL for dashboards: strings, label matchers, range selectors and
    by/without/on/ignoring groups are taken out first, then every identifier
    not followed by "(" (a function or aggregation) is a metric name.
    """
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels: set[str] = set()
    for body in re.findall(r"\{([^}]*)\}", expr):
        labels.update(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", body))
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    for body in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        labels.update(name.strip() for name in body.split(",") if name.strip())
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = {m.group(0) for m in re.finditer(r"(?<![\w.])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()", expr)
             if m.group(0) not in _PROMQL_WORDS}
    return names, labels


def test_parse_promql_finds_metrics_and_labels():
    names, labels = parse_promql(
        'histogram_quantile(0.99, sum by (le, method) (rate(a_seconds_bucket{job=~"$job"}[5m])))'
        ' / ignoring(code) sum without (x) (b_total{code!="OK"}) > bool 1e3')
    assert names == {"a_seconds_bucket", "b_total"}
    assert labels == {"le", "method", "job", "code", "x"}


def test_dashboard_has_what_grafana_import_needs(dashboard):
    assert dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    panels = _panels(dashboard)
    assert len(panels) >= 8
    for panel in panels:
        assert panel["title"] and panel["type"] in {"timeseries", "stat", "gauge", "bargauge", "table"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no queries"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert isinstance(target["expr"], str) and target["expr"].strip(), panel["title"]


def test_panels_tile_the_grid_without_overlap(dashboard):
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_templating_defines_datasource_and_every_variable_used(dashboard):
    variables = _variables(dashboard)
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    used = set()
    for expr in _expressions(dashboard):
        used.update(re.findall(r"\$\{?(\w+)", expr))
    assert used, "no query uses a template variable"
    assert used <= set(variables) | _BUILTIN_VARIABLES, used - set(variables) - _BUILTIN_VARIABLES


def test_every_query_names_exported_metrics_and_labels(dashboard, exported):
    assert exported, "the PS registry exported nothing"
    for expr in _expressions(dashboard):
        names, labels = parse_promql(_substitute(expr, dashboard))
        assert names, f"no metric in {expr!r}"
        unknown = names - set(exported)
        assert not unknown, f"{expr!r} names metrics the PS does not export: {sorted(unknown)}"
        known_labels = set().union(*(exported[n] for n in names)) | _TARGET_LABELS
        assert labels <= known_labels, f"{expr!r} uses labels {sorted(labels - known_labels)}"


def test_every_ps_metric_is_on_the_dashboard(dashboard, exported):
    used = set()
    for expr in _expressions(dashboard):
        used |= parse_promql(_substitute(expr, dashboard))[0]
    # One sample name per family is enough (a histogram's _bucket, a counter's _total).
    families = {re.sub(r"_(total|created|bucket|count|sum)$", "", n) for n in exported}
    covered = {re.sub(r"_(total|created|bucket|count|sum)$", "", n) for n in used}
    missing = sorted(f for f in families if "_ps_" in f and f not in covered)
    assert not missing, f"PS metrics without a panel: {missing}"
