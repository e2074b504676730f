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
from reconcile.sqlfiles import run_sql_file, sql_dir
from reconcile.staging import LOADED, FileOutcome, load_landed_file

log = logging.getLogger(__name__)


@dataclass
class FeedDay:
    """What one feed delivered for one extract date."""

    feed: str
    extract_date: dt.date
    outcomes: list[FileOutcome] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # facilities (or '*') with no file

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
                  day: dt.date, run_id: str) -> FeedDay:
    """Load every file of one feed for one extract date and record the feed's status."""
    feed = FEEDS[feed_name]
    result = FeedDay(feed_name, day)
    mapping = settings.feeds[feed_name].mapping if feed_name in settings.feeds else None
    for landed in discover(settings.landing_root, day, feeds=[feed_name]):
        result.outcomes.append(load_landed_file(con, landed, run_id, mapping=mapping))
    expected = facilities_for(settings) if feed.per_facility else ["*"]
    rows = []
    for facility in expected:
        mine = [o for o in result.outcomes if (o.facility or "*") == facility]
        if not mine:
            result.missing.append(facility)
            status = "missing"
        elif any(o.outcome in LOADED or o.previous in LOADED for o in mine):
            status = "arrived"
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


def reconcile_day(con: duckdb.DuckDBPyConnection, settings: Settings,
                  day: dt.date) -> dict[str, int]:
    """Evaluate the rule catalogue as of `day` and refresh the exception lifecycle."""
    return evaluate_day(con, day, settings.thresholds,
                        pay_period_anchor=settings.pay_period_first_end)
