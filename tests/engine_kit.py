"""Drive the engine day by day without Dagster, and fingerprint a warehouse's tables."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

import duckdb

from reconcile.config import Settings
from reconcile.pipeline import load_feed_day, reconcile_day, refresh_canonical
from reconcile.readers import SUPPORTED_FEEDS
from reconcile.warehouse import Warehouse

# The audit trail is the one table a rerun is meant to append to.
APPEND_ONLY = {("ops", "run_log")}


def run_days(settings: Settings, days: Iterable[dt.date], run_id: str = "test-run") -> None:
    warehouse = Warehouse(settings.warehouse_path, settings.duckdb)
    warehouse.ensure_schema()
    for day in days:
        with warehouse.writer() as con:
            for feed in SUPPORTED_FEEDS:
                load_feed_day(con, settings, feed, day, run_id)
            refresh_canonical(con)
            reconcile_day(con, settings, day)


def table_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """sha256 of every base table's full, ordered content (audit trail excluded)."""
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('main', 'information_schema') "
        "ORDER BY 1, 2"
    ).fetchall()
    out = {}
    for schema, table in tables:
        if (schema, table) in APPEND_ONLY:
            continue
        rows = con.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
        out[f"{schema}.{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def day_range(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
