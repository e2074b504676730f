"""One facility's bad feed holds back only that facility; late and missing feeds fail the
freshness check and show in ops.feed_status; a failed step leaves an audit row. Through the same
Dagster graph the CLI runs (in process, a real instance and warehouse)."""

import csv
import datetime as dt
import io
import json
import os

import dagster as dg
import pytest

from assets.runner import run_close, run_range
from reconcile.config import default_settings
from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.sla import FeedSla
from reconcile.warehouse import Warehouse
from tests.landing_kit import write_control

DAY1, DAY2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)


def _check(home, asset: list[str], name: str):
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        key = dg.AssetCheckKey(dg.AssetKey(asset), name)
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        return record.event.dagster_event.event_specific_data
    finally:
        instance.dispose()


def _break_quantities(path, share: float = 0.5) -> None:
    """Turn the quantity of `share` of the rows into text; keep the control file truthful."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    column = header.index("quantity")
    for row in body[: max(1, int(len(body) * share))]:
        row[column] = "abc"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    path.write_text(out.getvalue(), encoding="utf-8")
    write_control(path, len(body))


@pytest.fixture()
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    generate(tmp_path / "landing", GeneratorOptions(start=DAY1, days=2, visits_per_day=4, seed=7,
                                                    defect_scale=3.0))
    return tmp_path, default_settings(tmp_path / "landing", tmp_path / "w.duckdb")


def test_a_bad_feed_of_one_facility_holds_back_only_that_facility(site):
    root, settings = site
    assert run_range(settings, DAY1, DAY1, echo=False).ok
    with Warehouse(settings.warehouse_path).reader() as con:
        south_open = dict(con.execute(
            "SELECT exception_id, last_seen_run FROM recon.exceptions "
            "WHERE facility = 'SOUTH' AND status = 'open'").fetchall())
    assert south_open

    _break_quantities(root / "landing" / "pharmacy" / "ADC_SOUTH_20261002.csv")
    outcome = run_range(settings, DAY2, DAY2, echo=False)
    assert outcome.ok and not outcome.days[0].failed_checks  # the night went on

    with Warehouse(settings.warehouse_path).reader() as con:
        held = con.execute("SELECT held_facilities FROM recon.rule_runs WHERE as_of_date = ?",
                           [DAY2]).fetchone()[0]
        findings = dict(con.execute(
            "SELECT COALESCE(facility, '*'), count(*) FROM recon.findings WHERE as_of_date = ? "
            "GROUP BY 1", [DAY2]).fetchall())
        south_after = dict(con.execute(
            "SELECT exception_id, last_seen_run || ' ' || status FROM recon.exceptions "
            "WHERE exception_id IN (SELECT unnest(?::VARCHAR[]))", [list(south_open)]).fetchall())
        others_seen = con.execute(
            "SELECT count(*) FROM recon.exceptions WHERE facility IN ('NORTH', 'CHILD') "
            "AND last_seen_run = '2026-10-02'").fetchone()[0]
        audit = con.execute("SELECT outputs FROM ops.run_log WHERE step = 'recon/exceptions' "
                            "AND partition_key = '2026-10-02'").fetchone()[0]
    assert held == "SOUTH"
    assert "SOUTH" not in findings and findings.get("NORTH", 0) + findings.get("CHILD", 0) > 0
    # SOUTH's open exceptions were not judged on partial data: still open, last seen on day 1
    assert south_after == {i: "2026-10-01 open" for i in south_open}
    assert others_seen > 0
    assert json.loads(audit)["held_facilities"] == "SOUTH"

    home = root / "dh"
    per_facility = _check(home, ["staging", "cabinet_transactions"], "rejected_share_per_facility")
    assert per_facility.passed is False
    assert per_facility.metadata["held_facilities"].value == "SOUTH"
    blocking = _check(home, ["staging", "cabinet_transactions"], "rejected_share_within_threshold")
    assert blocking.passed is True


def test_late_and_missing_feeds_fail_the_freshness_check(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)  # lateness is judged near real time
    generate(tmp_path / "landing", GeneratorOptions(start=day, days=1, visits_per_day=2, seed=3))
    settings = default_settings(tmp_path / "landing", tmp_path / "w.duckdb")
    due = FeedSla().due_at("adt", day)  # 00:30 UTC the next day by default
    on_time = (due - dt.timedelta(hours=1)).timestamp()
    for path in (tmp_path / "landing").rglob("*"):
        if path.is_file():
            os.utime(path, (on_time, on_time))
    stamp = day.strftime("%Y%m%d")
    late = (due + dt.timedelta(minutes=50)).timestamp()
    adt = tmp_path / "landing" / "ehr" / "adt"
    os.utime(adt / f"ADT_NORTH_{stamp}.hl7.ctl", (late, late))
    (adt / f"ADT_CHILD_{stamp}.hl7").unlink()
    (adt / f"ADT_CHILD_{stamp}.hl7.ctl").unlink()

    assert run_range(settings, day, day, echo=False).ok  # freshness is a warning, not a stop
    with Warehouse(settings.warehouse_path).reader() as con:
        status = dict(con.execute("SELECT facility, status FROM ops.feed_status WHERE feed = 'adt'"
                                  ).fetchall())
    assert status == {"NORTH": "late", "SOUTH": "arrived", "CHILD": "missing"}
    check = _check(tmp_path / "dh", ["staging", "adt"], "arrived_on_time")
    assert check.passed is False
    assert check.metadata["late"].value == "NORTH" and check.metadata["missing"].value == "CHILD"
    assert check.metadata["due_at"].value == due.isoformat()
    charges = _check(tmp_path / "dh", ["staging", "charges"], "arrived_on_time")
    assert charges.passed is True


def test_sla_judgement():
    sla = FeedSla(timezone="America/New_York", expected_by={"gl_journal_lines": dt.time(5, 0)})
    day = dt.date(2026, 11, 30)
    due = sla.due_at("gl_journal_lines", day)
    assert due.isoformat() == "2026-12-01T05:00:00-05:00"
    assert sla.judge("gl_journal_lines", day, None, due - dt.timedelta(minutes=1)) == "pending"
    assert sla.judge("gl_journal_lines", day, None, due) == "missing"
    late, much_later = due + dt.timedelta(seconds=1), due + dt.timedelta(days=30)
    assert sla.judge("gl_journal_lines", day, late, due + dt.timedelta(hours=1)) == "late"
    # a backfill of history loads files long after their day: not judged late
    assert sla.judge("gl_journal_lines", day, much_later, much_later) == "on_time"
    assert sla.due_at("adt", day).time() == dt.time(0, 30)  # the default of the feed


def test_a_failed_step_leaves_a_failed_audit_row(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    settings = default_settings(tmp_path / "landing", tmp_path / "w.duckdb")
    Warehouse(settings.warehouse_path).ensure_schema()
    assert run_close(settings, "2026-10", preliminary=False, out_dir=None) is False  # not reconciled
    with Warehouse(settings.warehouse_path).reader() as con:
        rows = con.execute("SELECT partition_key, step, started_by, outputs, outcome, finished_at "
                           "FROM ops.run_log").fetchall()
    [(partition, step, started_by, outputs, outcome, finished)] = rows
    assert (partition, step, started_by, outcome) == ("2026-10", "reports/close_package", "cli",
                                                      "failed")
    assert json.loads(outputs) == {"error": "Failure"} and finished is not None
