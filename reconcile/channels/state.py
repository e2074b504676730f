"""Channel state in the warehouse: run health (ops.channel_runs) and incremental watermarks."""

from __future__ import annotations

import json

from reconcile.channels.base import ChannelStats
from reconcile.sqlfiles import query_sql_file, run_sql_file
from reconcile.warehouse import Warehouse


def record_channel_run(warehouse: Warehouse, stats: ChannelStats) -> None:
    """Append one channel run to ops.channel_runs (under the writer lock)."""
    with warehouse.writer() as con:
        run_sql_file(con, "ops/channel_run_insert.sql", {
            "channel": stats.channel, "feed": stats.feed, "extract_date": stats.extract_date,
            "started_at": stats.started_at, "finished_at": stats.finished_at,
            "outcome": stats.outcome, "files_fetched": stats.files_fetched,
            "bytes_fetched": stats.bytes_fetched, "rows_fetched": stats.rows_fetched,
            "retries": stats.retries, "errors": len(stats.errors),
            "last_error": stats.errors[-1] if stats.errors else None,
            "files": json.dumps(stats.files),
        })


def get_watermark(warehouse: Warehouse, channel: str, feed: str) -> str | None:
    """The last position a channel fetched for a feed, or None before its first pull."""
    if not warehouse.path.exists():
        return None
    with warehouse.writer() as con:
        row = query_sql_file(con, "ops/watermark_get.sql", {"channel": channel, "feed": feed}).fetchone()
    return row[0] if row else None


def set_watermark(warehouse: Warehouse, channel: str, feed: str, watermark: str) -> None:
    """Advance the watermark; call only once the landing file of that pull is complete."""
    with warehouse.writer() as con:
        run_sql_file(con, "ops/watermark_set.sql",
                     {"channel": channel, "feed": feed, "watermark": watermark})
