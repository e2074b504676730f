"""The four charge-capture rules on a hand-made system whose defects are known by construction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from reconcile.config import default_settings
from reconcile.warehouse import Warehouse
from tests import slice_fixture
from tests.engine_kit import day_range, run_days, table_fingerprints

FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 8)


@pytest.fixture()
def settings(tmp_path):
    slice_fixture.build(tmp_path / "landing")
    return default_settings(tmp_path / "landing", tmp_path / "w.duckdb")


# The fixture sends no GL, billing or pharmacy feeds: only the charge-capture rules are judged.
CHARGE_RULES = ["MISSING_CHARGE", "CHARGE_QTY_MISMATCH", "UNDOCUMENTED_CHARGE", "DUPLICATE_CHARGE",
                "LATE_CHARGE", "PRICE_MISMATCH", "UNKNOWN_CDM", "UNKNOWN_VISIT",
                "CHARGE_OUTSIDE_STAY", "UNMAPPED_DEPARTMENT"]


def _exceptions(settings):
    with Warehouse(settings.warehouse_path).reader() as con:
        return con.execute(
            "SELECT rule_id, facility, visit_number, cdm_code, service_date, amount_impact, "
            "status, first_seen_run, exception_id FROM recon.exceptions "
            "WHERE list_contains($rules, rule_id) ORDER BY rule_id", {"rules": CHARGE_RULES}
        ).fetchall()


def test_each_defect_is_reported_once_under_its_rule(settings):
    run_days(settings, day_range(FIRST, LAST))
    got = {(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in _exceptions(settings)}
    assert got == {
        ("DUPLICATE_CHARGE", "NORTH", "N2", "310044", dt.date(2026, 3, 2), Decimal("310.00"),
         "open"),
        ("MISSING_CHARGE", "NORTH", "N1", "320010", dt.date(2026, 3, 2), Decimal("95.00"), "open"),
        ("UNDOCUMENTED_CHARGE", "NORTH", "N1", "330120", dt.date(2026, 3, 3),
         Decimal("1840.00"), "open"),
        # inactive code: reported as master data only, not also as missing/undocumented
        ("UNKNOWN_CDM", "NORTH", "N2", "400100", dt.date(2026, 3, 3), Decimal("50.00"), "open"),
    }


def test_missing_charge_waits_for_the_charge_window(settings):
    # 320010 was performed on 03-02; with a 3-day window it is missing only once as_of > 03-05.
    run_days(settings, day_range(FIRST, dt.date(2026, 3, 5)))
    assert "MISSING_CHARGE" not in {r[0] for r in _exceptions(settings)}
    run_days(settings, [dt.date(2026, 3, 6)])
    missing = [r for r in _exceptions(settings) if r[0] == "MISSING_CHARGE"]
    assert [(r[2], r[7]) for r in missing] == [("N1", "2026-03-06")]


def test_credit_and_rebill_is_neither_duplicate_nor_missing(settings):
    run_days(settings, day_range(FIRST, LAST))
    n1_chest = [r for r in _exceptions(settings) if r[2] == "N1" and r[3] == "310044"]
    assert n1_chest == []


def test_exception_ids_are_stable_and_rerun_changes_no_table(settings):
    days = day_range(FIRST, LAST)
    run_days(settings, days)
    with Warehouse(settings.warehouse_path).reader() as con:
        before = table_fingerprints(con)
    ids_before = {r[8] for r in _exceptions(settings)}
    run_days(settings, days, run_id="second-run")  # the whole range again
    run_days(settings, [dt.date(2026, 3, 4)], run_id="third-run")  # and one old day
    with Warehouse(settings.warehouse_path).reader() as con:
        after = table_fingerprints(con)
    assert after == before
    assert {r[8] for r in _exceptions(settings)} == ids_before


def test_late_charge_resolves_missing_charge_with_same_id(settings, tmp_path):
    from tests.landing_kit import write_feed_file
    from tests.slice_fixture import _dft, _ft1

    run_days(settings, day_range(FIRST, dt.date(2026, 3, 7)))
    before = {r[0]: r for r in _exceptions(settings)}["MISSING_CHARGE"]
    # the charge for 320010 finally posts on 03-08
    write_feed_file(settings.landing_root, "ehr/charges/DFT_NORTH_20260308.hl7", _dft(
        "D9", "202603082300", "N1",
        _ft1(1, "T9", "20260302", "20260308", "CG", "320010", "1", "95.00", "MED")))
    run_days(settings, [LAST])
    after = {r[0]: r for r in _exceptions(settings)}["MISSING_CHARGE"]
    assert after[8] == before[8]
    assert (before[6], after[6]) == ("open", "resolved")
    with Warehouse(settings.warehouse_path).reader() as con:
        events = con.execute(
            "SELECT run, event FROM recon.exception_events WHERE exception_id = $id ORDER BY run",
            {"id": after[8]}).fetchall()
        resolved_at = con.execute(
            "SELECT resolved_at FROM recon.exceptions WHERE exception_id = $id",
            {"id": after[8]}).fetchone()[0]
    assert events == [("2026-03-06", "opened"), ("2026-03-07", "seen"),
                      ("2026-03-08", "resolved")]
    assert resolved_at == LAST
