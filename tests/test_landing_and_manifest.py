"""Landing contract: control files, checksums, re-delivery, idempotent reruns, missing feeds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest

from reconcile.config import default_settings
from reconcile.landing import discover
from reconcile.pipeline import load_feed_day
from reconcile.staging import load_landed_file
from reconcile.warehouse import Warehouse
from tests.landing_kit import csv_text, hl7_message, write_control, write_feed_file

DAY = dt.date(2026, 3, 1)
DEPT_PATH = "master/DEPTMAP_20260301.csv"
DEPT_HEADER = ["source_system", "source_department_code", "facility", "cost_center"]
DEPT_ROWS = [["EHR", "IMG", "NORTH", "8120"], ["EHR", "MED", "NORTH", "6010"],
             ["EHR", "SURG", "NORTH", "8150"]]


@pytest.fixture()
def env(tmp_path):
    root = tmp_path / "landing"
    root.mkdir()
    settings = default_settings(root, tmp_path / "w.duckdb")
    warehouse = Warehouse(settings.warehouse_path)
    warehouse.ensure_schema()
    return settings, warehouse


def load(env, feed: str, run_id: str = "run-1", day: dt.date = DAY):
    settings, warehouse = env
    with warehouse.writer() as con:
        return load_feed_day(con, settings, feed, day, run_id)


def query(env, sql: str, params: list | None = None) -> list[tuple]:
    _, warehouse = env
    with warehouse.writer() as con:
        return con.execute(sql, params).fetchall()


def adt_file(visit: str, control_id: str, facility: str = "NORTH") -> str:
    pv1 = ["PV1", "1", "I", f"MED^101^A^{facility}"] + [""] * 6 + ["MED"] + [""] * 8 + [visit]
    pv1 += [""] * 24 + ["202603010800"]
    assert pv1[10] == "MED" and pv1[19] == visit and pv1[44] == "202603010800"
    return hl7_message(
        f"MSH|^~\\&|EHR|{facility}|CHARTLEDGER|{facility}|202603010815||ADT^A01|{control_id}|P|2.5.1",
        "EVN|A01|202603010815",
        "PID|1||MRN0000001^^^NORTH^MR||DOE^JANE||19800101|F||||||||||ACCT1",
        "|".join(pv1),
    )


def manifest(env) -> list[tuple]:
    return query(env, "SELECT file_name, sha256, outcome, rows_declared, rows_loaded, rows_rejected "
                      "FROM ops.file_manifest ORDER BY file_name, outcome")


def test_file_without_control_is_incomplete_until_the_ctl_arrives(env):
    settings, _ = env
    path = write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS),
                           control=False)
    first = load(env, "department_map")
    assert [(o.relative_path, o.outcome, o.rows_loaded) for o in first.outcomes] == [
        (DEPT_PATH, "incomplete", 0)]
    assert query(env, "SELECT count(*) FROM staging.department_map") == [(0,)]
    assert query(env, "SELECT status, files FROM ops.feed_status") == [("incomplete", 1)]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest(env) == [(DEPT_PATH, sha, "incomplete", None, None, None)]

    write_control(path, 3)
    second = load(env, "department_map", "run-2")
    assert [(o.outcome, o.rows_loaded, o.rows_rejected) for o in second.outcomes] == [("loaded", 3, 0)]
    assert query(env, "SELECT source_department_code, cost_center FROM staging.department_map "
                      "ORDER BY row_number") == [("IMG", "8120"), ("MED", "6010"), ("SURG", "8150")]
    assert manifest(env) == [(DEPT_PATH, sha, "loaded", 3, 3, 0)]
    assert query(env, "SELECT status, files, rows_loaded FROM ops.feed_status") == [("arrived", 1, 3)]


def test_temporary_part_file_is_not_discovered(env):
    settings, _ = env
    write_feed_file(settings.landing_root, DEPT_PATH + ".part", "partial", control=False)
    assert discover(settings.landing_root, DAY) == []


def test_checksum_mismatch_rejects_the_whole_file(env):
    settings, _ = env
    path = write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS),
                           control=False)
    write_control(path, 3, sha256="ab" * 32)
    result = load(env, "department_map")
    assert [o.outcome for o in result.outcomes] == ["rejected"]
    assert "checksum" in result.outcomes[0].reason
    rejected = query(env, "SELECT feed, file_name, sha256, extract_date, reason FROM staging.rejected_files")
    assert len(rejected) == 1
    feed, name, sha, extract_date, reason = rejected[0]
    assert (feed, name, extract_date) == ("department_map", DEPT_PATH, DAY)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "checksum" in reason
    assert query(env, "SELECT count(*) FROM staging.department_map") == [(0,)]
    assert query(env, "SELECT count(*) FROM staging.rejected_rows") == [(0,)]
    assert query(env, "SELECT status FROM ops.feed_status") == [("rejected",)]
    assert [m[2] for m in manifest(env)] == ["rejected"]


def test_control_row_count_mismatch_rejects_the_whole_file(env):
    settings, _ = env
    rows = DEPT_ROWS + [["EHR", "LAB", "NORTH", ""]]  # 3 good records and 1 invalid one
    write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, rows), rows=5)
    result = load(env, "department_map")
    assert [o.outcome for o in result.outcomes] == ["rejected"]
    reason = query(env, "SELECT reason FROM staging.rejected_files")[0][0]
    assert "row count" in reason and "5" in reason and "4" in reason
    # nothing of it is loaded: neither its valid rows nor the quarantine of its invalid one
    assert query(env, "SELECT count(*) FROM staging.department_map") == [(0,)]
    assert query(env, "SELECT count(*) FROM staging.rejected_rows") == [(0,)]


def test_unreadable_control_file_rejects_the_file(env):
    settings, _ = env
    path = write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS))
    path.with_name(path.name + ".ctl").write_text("rows=3\n", encoding="utf-8")
    result = load(env, "department_map")
    assert [o.outcome for o in result.outcomes] == ["rejected"]
    assert "control file" in result.outcomes[0].reason
    assert query(env, "SELECT count(*) FROM staging.department_map") == [(0,)]


def test_redelivery_replaces_the_earlier_load(env):
    settings, _ = env
    root = settings.landing_root
    first_rows = [["EHR", "IMG", "NORTH", "8120"], ["EHR", "MED", "NORTH", ""]]  # 1 good, 1 bad
    first = write_feed_file(root, DEPT_PATH, csv_text(DEPT_HEADER, first_rows))
    old_sha = hashlib.sha256(first.read_bytes()).hexdigest()
    assert [o.outcome for o in load(env, "department_map").outcomes] == ["loaded"]
    assert query(env, "SELECT count(*) FROM staging.rejected_rows") == [(1,)]

    second = write_feed_file(root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS))  # new content + ctl
    new_sha = hashlib.sha256(second.read_bytes()).hexdigest()
    assert new_sha != old_sha
    result = load(env, "department_map", "run-2")
    assert [(o.outcome, o.rows_loaded, o.rows_rejected) for o in result.outcomes] == [("replaced", 3, 0)]
    # only the new version's rows: no double counting, and the old quarantine is gone too
    assert query(env, "SELECT source_department_code, cost_center, load_run_id FROM staging.department_map "
                      "ORDER BY row_number") == [
        ("IMG", "8120", "run-2"), ("MED", "6010", "run-2"), ("SURG", "8150", "run-2")]
    assert query(env, "SELECT count(*) FROM staging.rejected_rows") == [(0,)]
    assert manifest(env) == [
        (DEPT_PATH, new_sha, "replaced", 3, 3, 0),
        (DEPT_PATH, old_sha, "superseded", 2, 1, 1),
    ]
    assert query(env, "SELECT status, files, rows_loaded, rows_rejected FROM ops.feed_status") == [
        ("arrived", 1, 3, 0)]


def test_same_file_again_is_skipped(env):
    settings, _ = env
    write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS))
    load(env, "department_map")
    again = load(env, "department_map", "run-2")
    assert [(o.outcome, o.rows_loaded) for o in again.outcomes] == [("skipped", 3)]
    assert query(env, "SELECT DISTINCT load_run_id FROM staging.department_map") == [("run-1",)]


def test_load_landed_file_directly(env):
    settings, warehouse = env
    write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS))
    [landed] = discover(settings.landing_root, DAY, feeds=["department_map"])
    with warehouse.writer() as con:
        first = load_landed_file(con, landed, "run-1")
        second = load_landed_file(con, landed, "run-2")
    assert (first.outcome, first.rows_loaded, first.rows_rejected) == ("loaded", 3, 0)
    assert (second.outcome, second.reason) == ("skipped", "already loaded")


STATE_TABLES = ["staging.adt_events", "staging.department_map", "staging.rejected_rows",
                "staging.rejected_files", "ops.file_manifest", "ops.feed_status"]


def snapshot(env) -> dict[str, list[tuple]]:
    return {t: query(env, f"SELECT * FROM {t} ORDER BY ALL") for t in STATE_TABLES}


def test_loading_the_same_day_twice_changes_nothing(env):
    settings, _ = env
    root = settings.landing_root
    settings = dataclasses.replace(settings, facilities=("NORTH", "SOUTH", "CHILD"))
    env = (settings, env[1])
    rows = DEPT_ROWS + [["EHR", "LAB", "NORTH", ""]]  # one quarantined row
    write_feed_file(root, DEPT_PATH, csv_text(DEPT_HEADER, rows))
    write_feed_file(root, "ehr/adt/ADT_NORTH_20260301.hl7", adt_file("N1", "A1") + adt_file("N2", "A2"))
    write_feed_file(root, "ehr/adt/ADT_SOUTH_20260301.hl7", adt_file("S1", "B1", "SOUTH"),
                    control=False)  # incomplete
    for feed in ("adt", "department_map"):
        load(env, feed, "run-1")
    before = snapshot(env)
    assert len(before["staging.adt_events"]) == 2
    assert len(before["staging.department_map"]) == 3
    assert len(before["staging.rejected_rows"]) == 1
    assert {(r[1], r[2], r[3]) for r in before["ops.feed_status"]} == {
        ("adt", "NORTH", "arrived"), ("adt", "SOUTH", "incomplete"), ("adt", "CHILD", "missing"),
        ("department_map", "*", "arrived")}
    for feed in ("adt", "department_map"):
        load(env, feed, "run-2")
    assert snapshot(env) == before


def test_rerun_keeps_a_rejected_file_rejected_in_feed_status(env):
    settings, _ = env
    path = write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS),
                           control=False)
    write_control(path, 3, sha256="ab" * 32)
    load(env, "department_map", "run-1")
    before = snapshot(env)
    assert [r[3] for r in before["ops.feed_status"]] == ["rejected"]
    load(env, "department_map", "run-2")
    assert snapshot(env) == before


def test_corrected_control_file_lets_a_rejected_file_load(env):
    settings, _ = env
    write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS), rows=4)
    assert [o.outcome for o in load(env, "department_map").outcomes] == ["rejected"]
    write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS), rows=3)
    assert [o.outcome for o in load(env, "department_map", "run-2").outcomes] == ["loaded"]


def test_missing_per_facility_feed_is_recorded_per_facility(env):
    settings, warehouse = env
    settings = dataclasses.replace(settings, facilities=("NORTH", "SOUTH"))
    write_feed_file(settings.landing_root, "ehr/adt/ADT_NORTH_20260301.hl7", adt_file("N1", "A1"))
    result = load((settings, warehouse), "adt")
    assert result.missing == ["SOUTH"]
    assert query(env, "SELECT extract_date, feed, facility, status, files, rows_loaded, rows_rejected "
                      "FROM ops.feed_status ORDER BY facility") == [
        (DAY, "adt", "NORTH", "arrived", 1, 1, 0),
        (DAY, "adt", "SOUTH", "missing", 0, 0, 0),
    ]
    # charges sent nothing at all that day: missing for both facilities
    result = load((settings, warehouse), "charges")
    assert result.missing == ["NORTH", "SOUTH"]
    assert query(env, "SELECT facility, status, files FROM ops.feed_status WHERE feed = 'charges' "
                      "ORDER BY facility") == [("NORTH", "missing", 0), ("SOUTH", "missing", 0)]


def test_missing_facilities_default_to_those_seen_in_the_landing_directory(env):
    settings, _ = env
    # SOUTH delivered ADT on another day only; without configured facilities it is still expected
    write_feed_file(settings.landing_root, "ehr/adt/ADT_NORTH_20260301.hl7", adt_file("N1", "A1"))
    write_feed_file(settings.landing_root, "ehr/adt/ADT_SOUTH_20260228.hl7",
                    adt_file("S1", "B1", "SOUTH"))
    result = load(env, "adt")
    assert result.missing == ["SOUTH"]
    assert query(env, "SELECT facility, status FROM ops.feed_status ORDER BY facility") == [
        ("NORTH", "arrived"), ("SOUTH", "missing")]


def test_missing_non_facility_feed_is_one_star_row(env):
    result = load(env, "chargemaster")
    assert result.outcomes == [] and result.missing == ["*"]
    assert query(env, "SELECT extract_date, feed, facility, status, files, rows_loaded, rows_rejected "
                      "FROM ops.feed_status") == [(DAY, "chargemaster", "*", "missing", 0, 0, 0)]


def test_feed_status_is_replaced_not_appended_when_a_missing_file_arrives(env):
    settings, _ = env
    load(env, "department_map")
    assert query(env, "SELECT status FROM ops.feed_status") == [("missing",)]
    write_feed_file(settings.landing_root, DEPT_PATH, csv_text(DEPT_HEADER, DEPT_ROWS))
    load(env, "department_map", "run-2")
    assert query(env, "SELECT status, files, rows_loaded FROM ops.feed_status") == [("arrived", 1, 3)]
