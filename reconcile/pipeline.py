"""The steps of a nightly run for one business date, as plain functions the assets call."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import duckdb

from reconcile.config import Settings
from reconcile.feeds import FEEDS
from reconcile.landing import LandedFile, discover, facilities_in
from reconcile.readers import SUPPORTED_FEEDS
from reconcile.rules import evaluate_day
from reconcile.sla import LATE, PENDING, arrival_time
from reconcile.sqlfiles import query_sql_file, run_sql_file, sql_dir
from reconcile.staging import LOADED, FileOutcome, load_landed_file

log = logging.getLogger(__name__)


@dataclass
class FeedDay:
    """What one feed delivered for one extract date."""

    feed: str
    extract_date: dt.date
    outcomes: list[FileOutcome] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # facilities (or '*') with no file, due
    late: list[str] = field(default_factory=list)  # facilities (or '*') whose file came late
    pending: list[str] = field(default_factory=list)  # no file yet, and not yet due
    due_at: dt.datetime | None = None  # the feed's deadline for this extract date (site time)

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows_loaded for o in self.outcomes)

    @property
    def rows_rejected(self) -> int:
        return sum(o.rows_rejected for o in self.outcomes)

    @property
    def rejected_share(self) -> float:
        total = self.rows_loaded + self.rows_rejected
        return self.rows_rejected / total if total else 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)


def facilities_for(settings: Settings) -> list[str]:
    return list(settings.facilities) or facilities_in(settings.landing_root)


def discover_day(settings: Settings, day: dt.date) -> list[LandedFile]:
    return discover(settings.landing_root, day, feeds=SUPPORTED_FEEDS)


def load_feed_day(con: duckdb.DuckDBPyConnection, settings: Settings, feed_name: str,
                  day: dt.date, run_id: str, now: dt.datetime | None = None) -> FeedDay:
    """Load every file of one feed for one extract date and record the feed's status
    (arrived, late, missing, pending, incomplete or rejected; deadlines from settings.sla)."""
    feed = FEEDS[feed_name]
    now = now or dt.datetime.now(dt.UTC)
    result = FeedDay(feed_name, day, due_at=settings.sla.due_at(feed_name, day))
    mapping = settings.feeds[feed_name].mapping if feed_name in settings.feeds else None
    arrived_at: dict[str, dt.datetime] = {}
    for landed in discover(settings.landing_root, day, feeds=[feed_name]):
        arrived_at[landed.relative_path] = arrival_time(landed.path)
        result.outcomes.append(load_landed_file(con, landed, run_id, mapping=mapping))
    expected = facilities_for(settings) if feed.per_facility else ["*"]
    rows = []
    for facility in expected:
        mine = [o for o in result.outcomes if (o.facility or "*") == facility]
        if not mine:
            status = settings.sla.judge(feed_name, day, None, now)
            (result.pending if status == PENDING else result.missing).append(facility)
        elif any(o.outcome in LOADED or o.previous in LOADED for o in mine):
            first = min(arrived_at[o.relative_path] for o in mine)
            status = "arrived"
            if settings.sla.judge(feed_name, day, first, now) == LATE:
                status = "late"
                result.late.append(facility)
        elif any(o.outcome == "incomplete" for o in mine):
            status = "incomplete"
        else:
            status = "rejected"
        rows.append({
            "extract_date": day, "feed": feed_name, "facility": facility, "status": status,
            "files": len(mine), "rows_loaded": sum(o.rows_loaded for o in mine),
            "rows_rejected": sum(o.rows_rejected for o in mine),
        })
    con.execute("BEGIN TRANSACTION")
    run_sql_file(con, "ops/feed_status_clear.sql", {"extract_date": day, "feed": feed_name})
    for row in rows:
        run_sql_file(con, "ops/feed_status_insert.sql", row)
    con.execute("COMMIT")
    if result.missing:
        log.warning("feed %s has no file for %s (%s)", feed_name, day, ", ".join(result.missing))
    return result


def refresh_canonical(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the canonical views over staging."""
    for path in sorted((sql_dir() / "canonical").glob("*.sql")):
        run_sql_file(con, f"canonical/{path.name}")


def held_facilities(con: duckdb.DuckDBPyConnection, settings: Settings, day: dt.date) -> list[str]:
    """Facilities whose own feeds rejected more than the threshold share of rows on `day`."""
    rows = query_sql_file(con, "ops/held_facilities.sql", {
        "day": day, "rejected_share": settings.thresholds.rejected_share_threshold}).fetchall()
    return [r[0] for r in rows]


def reconcile_day(con: duckdb.DuckDBPyConnection, settings: Settings, day: dt.date,
                  held: tuple[str, ...] = ()) -> dict[str, int]:
    """Re-reconcile the rolling window (thresholds.rolling_window_days of service dates ending
    on `day`) as of `day`, leaving `held` facilities out, and refresh the exception lifecycle."""
    return evaluate_day(con, day, settings.thresholds,
                        pay_period_anchor=settings.pay_period_first_end, held_facilities=held)
