"""Match evidence is written as a change set: unchanged rows keep the evaluation that recorded
them, a rerun of a night rewrites nothing, and the evidence equals a from-scratch evaluation."""

from __future__ import annotations

import datetime as dt

import pytest

from reconcile.config import default_settings
from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.pipeline import reconcile_day
from reconcile.warehouse import Warehouse
from tests.engine_kit import day_range, run_days, table_fingerprints

START = dt.date(2026, 10, 1)
DAYS = day_range(START, START + dt.timedelta(days=3))
EVIDENCE = ("recon.charge_matches", "recon.charge_match_lines", "recon.pharmacy_matches",
            "recon.supply_matches")


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    generate(root / "landing", GeneratorOptions(start=START, days=len(DAYS), visits_per_day=8,
                                                seed=11))
    settings = default_settings(root / "landing", root / "w.duckdb")
    run_days(settings, DAYS)
    return settings


def _rows(con, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def test_unchanged_keys_keep_the_evaluation_that_recorded_them(nights):
    with Warehouse(nights.warehouse_path).reader() as con:
        first, last = DAYS[0], DAYS[-1]
        # keys of the first service day were recorded on the first night and most of them never
        # changed afterwards (a late charge or a passing charge window would change them)
        by_night = dict(con.execute(
            "SELECT as_of_date, count(*) FROM recon.charge_matches WHERE service_date = $d "
            "GROUP BY 1", {"d": first}).fetchall())
        lines = con.execute(
            "SELECT min(as_of_date), max(as_of_date) FROM recon.charge_match_lines "
            "WHERE service_date = $d", {"d": first}).fetchone()
        latest_keys = con.execute(
            "SELECT count(*) FROM recon.charge_matches WHERE as_of_date = $d",
            {"d": last}).fetchone()[0]
    assert by_night.get(first, 0) > 0
    assert sum(by_night.values()) > by_night.get(last, 0)  # not all rewritten by the last night
    assert lines[0] == first
    assert latest_keys > 0  # the last night recorded the states that changed, at least its new day


def test_rerunning_the_last_night_rewrites_no_evidence(nights):
    wh = Warehouse(nights.warehouse_path, nights.duckdb)
    with wh.reader() as con:
        before = {t: _rows(con, t) for t in EVIDENCE}
    with wh.writer() as con:
        reconcile_day(con, nights, DAYS[-1])
    with wh.reader() as con:
        after = {t: _rows(con, t) for t in EVIDENCE}
    assert after == before


def test_evidence_of_the_last_night_equals_a_fresh_evaluation(nights, tmp_path):
    """What the change sets leave equals evaluating the last night alone on the same staging
    (except as_of_date, which there is that night for every row)."""
    fresh = default_settings(nights.landing_root, tmp_path / "fresh.duckdb")
    run_days(fresh, DAYS[:-1])  # loads staging and evaluates, then:
    with Warehouse(fresh.warehouse_path, fresh.duckdb).writer() as con:
        con.execute("DELETE FROM recon.charge_matches; DELETE FROM recon.charge_match_lines; "
                    "DELETE FROM recon.pharmacy_matches; DELETE FROM recon.supply_matches; "
                    "DELETE FROM recon.rule_runs")
    run_days(fresh, DAYS[-1:])
    window_start = DAYS[-1] - dt.timedelta(days=nights.thresholds.rolling_window_days - 1)
    dates = {"recon.charge_matches": "service_date", "recon.charge_match_lines": "service_date",
             "recon.pharmacy_matches": "last_activity", "recon.supply_matches": "activity_date"}
    got = {}
    for settings in (nights, fresh):
        with Warehouse(settings.warehouse_path).reader() as con:
            got[settings.warehouse_path.name] = {
                t: con.execute(f"SELECT * EXCLUDE (as_of_date) FROM {t} WHERE {c} >= $w "
                               "ORDER BY ALL", {"w": window_start}).fetchall()
                for t, c in dates.items()}
    incremental, scratch = got[nights.warehouse_path.name], got["fresh.duckdb"]
    for table in dates:
        assert incremental[table] == scratch[table], table
    assert len(scratch["recon.charge_match_lines"]) > 100


def test_fingerprints_do_not_move_on_a_rerun_of_the_whole_range(nights, tmp_path):
    with Warehouse(nights.warehouse_path).reader() as con:
        before = table_fingerprints(con)
    run_days(nights, DAYS)
    with Warehouse(nights.warehouse_path).reader() as con:
        after = table_fingerprints(con)
    changed = sorted(t for t in before if before[t] != after.get(t))
    # the ops tables record the reruns themselves; nothing of recon may move
    assert [t for t in changed if t.startswith("recon.")] == []
