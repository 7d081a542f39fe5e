"""The PS's table metrics: rows pulled and pushed, and table size read at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class TableMetrics:
    """Counters the service bumps per request, labelled by table."""

    def __init__(self, registry: CollectorRegistry, prefix: str):
        self.rows_pulled = Counter(f"{prefix}_ps_rows_pulled", "Rows returned by Pull",
                                   ["table"], registry=registry)
        self.rows_pushed = Counter(f"{prefix}_ps_rows_pushed",
                                   "Rows updated by Push (after the occurrence filter)",
                                   ["table"], registry=registry)


class TableSizeCollector(Collector):
    """Rows, bytes and touched-key drops of every table, read when scraped."""

    def __init__(self, tables: dict, prefix: str):
        self.tables = tables
        self.prefix = prefix

    def collect(self):
        rows = GaugeMetricFamily(f"{self.prefix}_ps_table_rows", "Rows stored", labels=["table"])
        size = GaugeMetricFamily(f"{self.prefix}_ps_table_bytes", "Bytes held by the table",
                                 labels=["table"])
        drops = CounterMetricFamily(f"{self.prefix}_ps_touched_keys_dropped",
                                    "Touched keys dropped because the set overflowed",
                                    labels=["table"])
        for name, table in sorted(self.tables.items()):
            rows.add_metric([name], table.size)
            size.add_metric([name], table.nbytes)
            drops.add_metric([name], table.touched_dropped_total)
        yield rows
        yield size
        yield drops
