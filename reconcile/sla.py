"""Feed SLAs: when each feed's file for an extract date is due, and whether it came on time.

A feed's file for extract date D is due at its `expected_by` time (site time zone) on D + 1.
Its arrival time is when its control file was written (the data file's, without one). Lateness
is judged only for extract dates whose deadline lies within `lookback_days` of the run: a backfill
of history loads files long after their day, which says nothing about the feed's punctuality.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "UTC"

# Local time on the day after the extract date by which each feed's file is due (the nightly
# schedule runs at 02:00, after all of them).
DEFAULT_EXPECTED_BY: dict[str, dt.time] = {
    "adt": dt.time(0, 30),
    "charges": dt.time(0, 30),
    "procedures": dt.time(0, 45),
    "med_administrations": dt.time(0, 45),
    "case_supplies": dt.time(0, 45),
    "cabinet_transactions": dt.time(1, 0),
    "inventory_transactions": dt.time(1, 0),
    "item_master": dt.time(1, 0),
    "gl_journal_lines": dt.time(1, 15),
    "cost_centers": dt.time(1, 15),
    "chargemaster": dt.time(1, 15),
    "department_map": dt.time(1, 15),
    "billing_accounts": dt.time(1, 30),
    "timecards": dt.time(1, 30),
}

ON_TIME, LATE, MISSING, PENDING = "on_time", "late", "missing", "pending"


class SlaError(ValueError):
    """An [sla] setting that cannot be used."""


@dataclass(frozen=True)
class FeedSla:
    """Arrival deadlines per feed (defaults above, overridden by `[sla]`) in a time zone."""

    timezone: str = DEFAULT_TIMEZONE
    expected_by: dict[str, dt.time] = field(default_factory=dict)  # overrides only
    lookback_days: int = 3

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def expected_time(self, feed: str) -> dt.time:
        return self.expected_by.get(feed, DEFAULT_EXPECTED_BY.get(feed, dt.time(1, 30)))

    def due_at(self, feed: str, extract_date: dt.date) -> dt.datetime:
        """The deadline of a feed's file for `extract_date`, as an aware datetime."""
        day_after = extract_date + dt.timedelta(days=1)
        return dt.datetime.combine(day_after, self.expected_time(feed), tzinfo=self.zone)

    def judge(self, feed: str, extract_date: dt.date, arrived_at: dt.datetime | None,
              now: dt.datetime) -> str:
        """on_time, late, missing (due and absent) or pending (absent, not yet due)."""
        due = self.due_at(feed, extract_date)
        if arrived_at is None:
            return MISSING if now >= due else PENDING
        if arrived_at > due and now - due <= dt.timedelta(days=self.lookback_days):
            return LATE
        return ON_TIME


def arrival_time(data_file: Path, control_suffix: str = ".ctl") -> dt.datetime:
    """When a landed file became complete: its control file's modification time (else its own)."""
    control = data_file.with_name(data_file.name + control_suffix)
    source = control if control.is_file() else data_file
    return dt.datetime.fromtimestamp(source.stat().st_mtime, tz=dt.UTC)


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SlaError(f"time zone {name!r} is not an IANA zone name (e.g. America/New_York)") from exc
    return name


def sla_from_mapping(timezone: str, data: dict[str, Any], feeds: list[str]) -> FeedSla:
    """`[sla]`: `lookback_days = N` and `<feed> = "HH:MM"` per feed (site time, day after)."""
    data = dict(data)
    lookback = data.pop("lookback_days", 3)
    if not isinstance(lookback, int) or lookback < 0:
        raise SlaError(f"[sla] lookback_days {lookback!r} must be a whole number of days >= 0")
    expected: dict[str, dt.time] = {}
    for feed, raw in data.items():
        if feed not in feeds:
            raise SlaError(f"[sla] {feed} is not a known feed ({', '.join(feeds)})")
        expected[feed] = _time(raw, f"[sla] {feed}")
    return FeedSla(validate_timezone(timezone), expected, lookback)


def _time(raw: object, what: str) -> dt.time:
    if isinstance(raw, dt.time):
        return raw
    try:
        return dt.time.fromisoformat(str(raw))
    except ValueError as exc:
        raise SlaError(f"{what} = {raw!r} is not a time HH:MM") from exc
