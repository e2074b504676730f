"""The nightly work-queue refresh that appends the latest evaluation gives exactly what deriving
the whole history again gives, night after night; reruns of earlier nights take the full path."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from reconcile.config import default_settings
from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.pipeline import held_facilities, load_feed_day, reconcile_day, refresh_canonical
from reconcile.readers import SUPPORTED_FEEDS
from reconcile.rules import rule_parameters
from reconcile.sqlfiles import query_sql_file, run_sql_file
from reconcile.warehouse import Warehouse
from tests.engine_kit import day_range

START = dt.date(2026, 10, 1)
DAYS = day_range(START, START + dt.timedelta(days=11))
QUEUE = ("recon.exceptions", "recon.exception_events")


def _queue(con) -> dict[str, list[tuple]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in QUEUE}


def _append_only(con, settings, day) -> bool:
    params = rule_parameters(day, settings.thresholds)
    return bool(query_sql_file(con, "recon/refresh_mode.sql", params).fetchall()[0][0])


def _withdraw_charges_of_open_exceptions(con) -> None:
    """Take back the charge lines of some open charge-level exceptions (so they resolve tonight
    and reopen when the lines return)."""
    con.execute("""
        CREATE TABLE main.withdrawn AS
        SELECT c.rowid AS withdrawn_rowid, c.* FROM staging.charges c
        SEMI JOIN (SELECT facility, visit_number, cdm_code, service_date FROM recon.exceptions
                   WHERE status = 'open' AND rule_id IN ('UNDOCUMENTED_CHARGE', 'PRICE_MISMATCH',
                                                         'LATE_CHARGE', 'DUPLICATE_CHARGE')
                   ORDER BY exception_id LIMIT 6) e
          ON e.facility = c.facility AND e.visit_number = c.visit_number
         AND e.cdm_code = c.cdm_code AND e.service_date = c.service_date""")
    con.execute("DELETE FROM staging.charges "
                "WHERE rowid IN (SELECT withdrawn_rowid FROM main.withdrawn)")


def _restore_withdrawn_charges(con) -> None:
    con.execute("INSERT INTO staging.charges SELECT * EXCLUDE (withdrawn_rowid) FROM main.withdrawn")


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """Twelve nights run one after the other; after each, the queue the append path left and
    the queue a full derivation gives (then rolled back)."""
    root = tmp_path_factory.mktemp("refresh")
    generate(root / "landing", GeneratorOptions(start=START, days=len(DAYS), visits_per_day=20,
                                                seed=11))
    settings = default_settings(root / "landing", root / "w.duckdb")
    # a 5-day window, so that over twelve nights exceptions also leave the window open
    settings = replace(settings, thresholds=replace(settings.thresholds, rolling_window_days=5))
    wh = Warehouse(settings.warehouse_path, settings.duckdb)
    wh.ensure_schema()
    nights = []
    for day in DAYS:
        with wh.writer() as con:
            for feed in SUPPORTED_FEEDS:
                load_feed_day(con, settings, feed, day, "test")
            refresh_canonical(con)
            if day == DAYS[6]:
                _withdraw_charges_of_open_exceptions(con)
            if day == DAYS[8]:
                _restore_withdrawn_charges(con)
            mode = _append_only(con, settings, day)
            reconcile_day(con, settings, day, tuple(held_facilities(con, settings, day)))
            appended = _queue(con)
            con.execute("BEGIN TRANSACTION")
            run_sql_file(con, "recon/refresh_exceptions.sql")
            derived = _queue(con)
            con.execute("ROLLBACK")
        nights.append((day, mode, appended, derived))
    return settings, nights


def test_every_night_takes_the_append_path(nightly):
    _, nights = nightly
    assert all(mode for _, mode, _, _ in nights)


def test_appending_each_night_equals_deriving_the_whole_history(nightly):
    _, nights = nightly
    for day, _, appended, derived in nights:
        for table in QUEUE:
            assert appended[table] == derived[table], (day, table)
    last = nights[-1][2]
    events = {e[2] for e in last["recon.exception_events"]}
    statuses = {e[21] for e in last["recon.exceptions"]}
    # the comparison means something: exceptions opened, seen, resolved on the way
    assert {"opened", "seen", "resolved", "reopened"} <= events
    assert statuses == {"open", "resolved"}
    # and some stay open after their scope date left the window (out of scope, not resolved)
    final_window_start = DAYS[-1] - dt.timedelta(days=4)
    assert any(e[21] == "open" and e[11] is not None and e[11] < final_window_start
               for e in last["recon.exceptions"])


def test_a_rerun_of_an_earlier_night_takes_the_full_path(nightly):
    settings, nights = nightly
    wh = Warehouse(settings.warehouse_path, settings.duckdb)
    with wh.writer() as con:
        assert not _append_only(con, settings, DAYS[4])
        # the latest night again, after it found things: its own events are there, full path
        assert not _append_only(con, settings, DAYS[-1])
        reconcile_day(con, settings, DAYS[4])
        assert _queue(con) == nights[-1][2]
