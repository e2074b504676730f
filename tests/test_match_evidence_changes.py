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


def _copy_of(settings, tmp_path):
    import shutil
    from dataclasses import replace
    path = tmp_path / "copy.duckdb"
    shutil.copy(settings.warehouse_path, path)
    return replace(settings, warehouse_path=path)


def test_records_that_change_under_unchanged_quantities_are_rewritten(nights, tmp_path):
    """A charge line re-keyed with the same quantity and amount changes no total of its key, only
    the records behind it: the key's fingerprint changes and its lines are rewritten."""
    copy = _copy_of(nights, tmp_path)
    last = DAYS[-1]
    wh = Warehouse(copy.warehouse_path, copy.duckdb)
    with wh.writer() as con:
        key = con.execute(
            "SELECT l.facility, l.visit_number, l.cdm_code, l.service_date, l.record_ref "
            "FROM recon.charge_match_lines l JOIN recon.charge_matches m USING "
            "(facility, visit_number, cdm_code, service_date) "
            "WHERE l.side = 'posted' AND m.match_status = 'matched' AND l.service_date = $d "
            "ORDER BY ALL LIMIT 1", {"d": last}).fetchone()
        assert key is not None
        facility, visit, cdm, service_date, old_ref = key
        con.execute("UPDATE staging.charges SET transaction_id = 'REKEYED-1' "
                    "WHERE facility = $f AND transaction_id = $t", {"f": facility, "t": old_ref})
        before = con.execute(
            "SELECT * EXCLUDE (as_of_date, records_fingerprint) FROM recon.charge_matches "
            "WHERE facility = $f AND visit_number = $v AND cdm_code = $c AND service_date = $s",
            {"f": facility, "v": visit, "c": cdm, "s": service_date}).fetchall()
        reconcile_day(con, copy, last)
        after = con.execute(
            "SELECT * EXCLUDE (as_of_date, records_fingerprint) FROM recon.charge_matches "
            "WHERE facility = $f AND visit_number = $v AND cdm_code = $c AND service_date = $s",
            {"f": facility, "v": visit, "c": cdm, "s": service_date}).fetchall()
        refs = {r[0] for r in con.execute(
            "SELECT record_ref FROM recon.charge_match_lines WHERE side = 'posted' "
            "AND facility = $f AND visit_number = $v AND cdm_code = $c AND service_date = $s",
            {"f": facility, "v": visit, "c": cdm, "s": service_date}).fetchall()}
    assert after == before  # the totals and the status of the key did not move
    assert "REKEYED-1" in refs and old_ref not in refs


def test_pharmacy_findings_list_the_records_of_their_pair(nights):
    """MED_* rules leave source_refs to the runner: each finding lists the cabinet transactions
    and administrations of its visit/NDC known that night; on the last night, the same list as
    the pharmacy evidence of that pair."""
    last = DAYS[-1]
    with Warehouse(nights.warehouse_path).reader() as con:
        rows = con.execute(
            "SELECT f.as_of_date, f.rule_id, f.facility, f.visit_number, f.item_or_ndc, "
            "       f.source_refs, m.refs "
            "FROM recon.findings f LEFT JOIN recon.pharmacy_matches m "
            "  ON f.as_of_date = $d AND m.facility = f.facility "
            " AND m.visit_number = f.visit_number AND m.ndc = f.item_or_ndc "
            " AND m.last_activity = f.scope_date "
            "WHERE f.rule_id LIKE 'MED\\_%' ESCAPE '\\'", {"d": last}).fetchall()
        known = {(r[0], r[1], r[2], r[3], r[4]) for r in con.execute(
            "SELECT n.d, facility, visit_number, ndc, txn_id FROM staging.cabinet_transactions "
            "JOIN (SELECT unnest($days) AS d) n ON extract_date <= n.d "
            "UNION ALL "
            "SELECT n.d, facility, visit_number, ndc, resource_id "
            "FROM canonical.med_administration_versions "
            "JOIN (SELECT unnest($days) AS d) n ON extract_date <= n.d",
            {"days": list(DAYS)}).fetchall()}
    # this small system has no dispensed-not-administered finding; the demo month checks both
    # (test_rule_catalogue.py)
    assert {r[1] for r in rows} == {"MED_ADMINISTERED_NOT_DISPENSED"}
    assert any(r[0] == last for r in rows)
    for as_of, rule_id, facility, visit, ndc, source_refs, evidence_refs in rows:
        assert source_refs, (as_of, rule_id, visit, ndc)
        if as_of == last:
            assert source_refs == evidence_refs, (rule_id, visit, ndc)
        for ref in source_refs.split(" "):
            assert (as_of, facility, visit, ndc, ref) in known, (as_of, rule_id, ref)


def test_match_rates_cover_the_window_not_only_the_rows_recorded_that_night(nights):
    from reconcile.sqlfiles import query_sql_file
    last = DAYS[-1]
    with Warehouse(nights.warehouse_path).reader() as con:
        rates = {side: (keys, matched) for side, keys, matched in
                 query_sql_file(con, "ops/match_rates.sql", {"day": last}).fetchall()}
        window_keys, recorded_tonight = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE as_of_date = $d) FROM recon.charge_matches "
            "WHERE service_date BETWEEN $d - INTERVAL 13 DAY AND $d", {"d": last}).fetchone()
    assert rates["charges"][0] == window_keys > recorded_tonight
    assert 0 < rates["charges"][1] <= rates["charges"][0]
    assert rates["pharmacy"][0] > 0 and rates["supplies"][0] > 0
