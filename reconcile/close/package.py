"""Build the close package of a month (the report.* tables) from the reconciled warehouse."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

import duckdb

from reconcile.config import Settings
from reconcile.rules import rule_parameters
from reconcile.sqlfiles import query_sql_file, run_sql_file, sql_dir
from reconcile.warehouse import rollback

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class CloseNotReady(RuntimeError):
    """The period is not fully reconciled yet and a preliminary close was not asked for."""


@dataclass(frozen=True)
class CloseResult:
    period: str
    as_of: dt.date
    preliminary: bool
    ready_to_close: dict[str, bool]


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    m = PERIOD.match(period)
    if not m:
        raise ValueError(f"period {period!r} is not YYYY-MM")
    year, month = int(m.group(1)), int(m.group(2))
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def build_close(con: duckdb.DuckDBPyConnection, settings: Settings, period: str,
                preliminary: bool, run_id: str) -> CloseResult:
    """Replace the period's report rows. A period whose last day is not reconciled is refused
    unless `preliminary` is allowed, and is then labelled PRELIMINARY everywhere."""
    start, end = period_bounds(period)
    last = query_sql_file(con, "report/last_reconciled_day.sql").fetchone()[0]
    if last is None or last < start:
        raise CloseNotReady(f"period {period} has no reconciled day yet")
    if last < end and not preliminary:
        raise CloseNotReady(
            f"period {period} ends {end} but the last reconciled business date is {last}; "
            "run the remaining days first, or ask for a preliminary close (--preliminary)")
    as_of = min(end, last)
    params = {
        **rule_parameters(as_of, settings.thresholds, settings.pay_period_first_end),
        "window_start": start, "period": period, "start": start, "end": end,
        # the KPIs read three months of posted charges (93 days cover any three months)
        "posted_from": min(start, as_of - dt.timedelta(days=93)),
        "preliminary": last < end, "run_id": run_id,  # labelled only when the month is short
        "rejected_share": float(settings.thresholds.rejected_share_threshold),
    }
    con.execute("BEGIN TRANSACTION")
    try:
        for prepare in sorted((sql_dir() / "recon").glob("prepare_*.sql")):
            run_sql_file(con, f"recon/{prepare.name}", params)
        run_sql_file(con, "report/build_close.sql", params)
        run_sql_file(con, "report/build_kpis.sql", params)
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    ready = dict(query_sql_file(con, "report/close_status.sql", {"period": period}).fetchall())
    return CloseResult(period, as_of, bool(params["preliminary"]), ready)
