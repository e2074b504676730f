"""The month-end close package: tie-outs against independent sums, KPIs by hand, refusal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from reconcile.close.package import CloseNotReady, build_close
from reconcile.config import default_settings
from reconcile.warehouse import Warehouse
from tests import slice_fixture
from tests.engine_kit import day_range, run_days
from tests.landing_kit import write_feed_file

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def closed_month(demo_month):
    with Warehouse(demo_month.settings.warehouse_path).writer() as con:
        result = build_close(con, demo_month.settings, PERIOD, False, "test-close")
    return demo_month, result


def _one(con, sql, params=None):
    return con.execute(sql, params or {}).fetchone()


def test_final_close_of_a_fully_reconciled_month(closed_month, demo_month):
    _, result = closed_month
    with Warehouse(demo_month.settings.warehouse_path).writer() as con:
        # allowing a preliminary close of a complete month still gives a final one
        again = build_close(con, demo_month.settings, PERIOD, True, "test-close")
    assert again.preliminary is False
    assert (result.period, result.as_of, result.preliminary) == (PERIOD, dt.date(2026, 10, 31),
                                                                 False)
    assert set(result.ready_to_close) == {"ALL", "NORTH", "SOUTH", "CHILD"}
    # the demo month carries injected defects, so it cannot be ready to close
    assert result.ready_to_close["ALL"] is False


def test_revenue_tieout_equals_sums_straight_from_staging(closed_month):
    month, _ = closed_month
    with Warehouse(month.settings.warehouse_path).reader() as con:
        package = dict(con.execute(
            "SELECT facility, sum(gl_revenue) FROM report.revenue_tieout WHERE period = $p "
            "AND cost_center IS NOT NULL GROUP BY 1", {"p": PERIOD}).fetchall())
        # independent: every POSTED revenue-interface line of October batches, latest version
        ledger = dict(con.execute(
            "SELECT split_part(reference, '-', 1), sum(credit - debit) FROM ("
            "  SELECT * FROM staging.gl_journal_lines QUALIFY row_number() OVER ("
            "  PARTITION BY journal_id, line_number ORDER BY updated_at DESC, extract_date DESC) = 1)"
            " WHERE source = 'REVENUE_INTERFACE' AND status = 'POSTED'"
            " AND substr(reference, -8) BETWEEN '20261001' AND '20261031' GROUP BY 1").fetchall())
        posted = dict(con.execute(
            "SELECT facility, sum(posted_charges) FROM report.revenue_tieout WHERE period = $p "
            "AND cost_center IS NOT NULL GROUP BY 1", {"p": PERIOD}).fetchall())
        # independent: net charges posted in October, one row per transaction id, whose
        # department and code map to the ledger
        charges = dict(con.execute("""
            WITH lines AS (
                SELECT * FROM staging.charges QUALIFY row_number() OVER (
                    PARTITION BY facility, transaction_id ORDER BY extract_date, row_number) = 1)
            SELECT l.facility, sum(CASE WHEN txn_type = 'CD' THEN -abs(extended_amount)
                                        ELSE extended_amount END)
            FROM lines l
            WHERE l.post_date BETWEEN '2026-10-01' AND '2026-10-31'
              AND EXISTS (SELECT 1 FROM staging.department_map d WHERE d.facility = l.facility
                          AND d.source_department_code = l.department_code)
              AND EXISTS (SELECT 1 FROM staging.chargemaster c WHERE c.cdm_code = l.cdm_code
                          AND c.status = 'A' AND l.service_date BETWEEN c.effective_from
                          AND COALESCE(c.effective_to, DATE '9999-12-31'))
            GROUP BY 1""").fetchall())
        checklist = dict(con.execute(
            "SELECT facility, amount_b FROM report.close_checklist WHERE period = $p "
            "AND reconciliation = 'revenue to GL'", {"p": PERIOD}).fetchall())
    assert package == ledger
    assert checklist["ALL"] == sum(ledger.values())
    assert posted == charges


def test_unbilled_and_exception_summary_add_up(closed_month):
    month, _ = closed_month
    with Warehouse(month.settings.warehouse_path).reader() as con:
        by_fac = _one(con, "SELECT sum(gross_charges), sum(visits) FROM report.unbilled_accrual "
                           "WHERE period = $p AND facility <> 'ALL'", {"p": PERIOD})
        system = _one(con, "SELECT sum(gross_charges), sum(visits) FROM report.unbilled_accrual "
                           "WHERE period = $p AND facility = 'ALL'", {"p": PERIOD})
        summary = _one(con, "SELECT sum(open_count), sum(age_0_3 + age_4_7 + age_8_14 + "
                            "age_15_30 + age_over_30) FROM report.exception_summary "
                            "WHERE period = $p AND facility = 'ALL'", {"p": PERIOD})
        open_now = _one(con, "SELECT count(*) FROM recon.exceptions WHERE status = 'open'")
    assert by_fac == system
    assert summary[0] == summary[1] == open_now[0]


def test_close_is_refused_before_the_last_day_unless_preliminary(tmp_path):
    slice_fixture.build(tmp_path / "landing")
    settings = default_settings(tmp_path / "landing", tmp_path / "w.duckdb")
    run_days(settings, day_range(dt.date(2026, 3, 1), dt.date(2026, 3, 8)))
    with Warehouse(settings.warehouse_path).writer() as con:
        with pytest.raises(CloseNotReady, match="last reconciled business date is 2026-03-08"):
            build_close(con, settings, "2026-03", False, "r")
        result = build_close(con, settings, "2026-03", True, "r")
        assert result.preliminary and result.as_of == dt.date(2026, 3, 8)
        flags = con.execute("SELECT DISTINCT preliminary FROM report.close_runs").fetchall()
    assert flags == [(True,)]


def test_kpis_match_hand_computed_values(tmp_path):
    slice_fixture.build(tmp_path / "landing")
    # the charge of 320010 (service 03-02) finally posts on 03-08: 6 days late, $95.00
    write_feed_file(tmp_path / "landing", "ehr/charges/DFT_NORTH_20260308.hl7", slice_fixture._dft(
        "D9", "202603082300", "N1", slice_fixture._ft1(
            1, "T9", "20260302", "20260308", "CG", "320010", "1", "95.00", "MED")))
    settings = default_settings(tmp_path / "landing", tmp_path / "w.duckdb")
    run_days(settings, day_range(dt.date(2026, 3, 1), dt.date(2026, 3, 8)))
    with Warehouse(settings.warehouse_path).writer() as con:
        build_close(con, settings, "2026-03", True, "r")
        kpis = {k: (v, n, d) for k, v, n, d in con.execute(
            "SELECT kpi, value, numerator, denominator FROM report.kpis "
            "WHERE facility = 'ALL'").fetchall()}
    # CG lines (service -> post): T1 03-01->03-02, T3 03-01->03-02, T4 03-02->03-02,
    # T5 03-02->03-03, T6 03-03->03-03, T7 03-03->03-03, T9 03-02->03-08: lags 1,1,0,1,0,0,6
    assert kpis["charge_lag_median_days"][0] == Decimal("1")
    assert kpis["charge_lag_mean_days"][1:] == (Decimal("9"), Decimal("7"))
    # late = posted more than 3 days after service: only T9 ($95) of the gross CG dollars
    # 310 + 310 + 310 + 310 + 50 + 1840 + 95 = 3225
    assert kpis["late_charges_pct_of_gross"][1:] == (Decimal("95"), Decimal("3225"))
    assert kpis["late_charges_pct_of_gross"][0] == Decimal("0.0295")  # 95 / 3225, 4 places
    # DNFB: N1 discharged 03-04, no final bill: net charges 310 - 310 + 310 + 1840 + 95 = 2245.
    # Average daily gross over the posting days 03-02 .. 03-08 (7 days): all signed amounts
    # 3225 - 310 (the credit T2) = 2915 -> 416.43 a day -> 2245 / 416.43 = 5.391 days.
    value, numerator, _ = kpis["days_in_dnfb"]
    assert numerator == Decimal("2245")
    assert abs(value - Decimal("5.3911")) < Decimal("0.001")


def test_close_command_refuses_then_writes_the_preliminary_package(tmp_path, monkeypatch, capsys):
    from reconcile.cli import main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    slice_fixture.build(tmp_path / "landing")
    settings = default_settings(tmp_path / "landing", tmp_path / "w.duckdb")
    run_days(settings, day_range(dt.date(2026, 3, 1), dt.date(2026, 3, 8)))
    warehouse = str(settings.warehouse_path)
    assert main(["close", "--warehouse", warehouse, "--period", "2026-03"]) == 1
    assert "ask for a preliminary close" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["close", "--warehouse", warehouse, "--period", "2026-03", "--preliminary",
                 "--out", str(out)]) == 0
    assert "(PRELIMINARY)" in capsys.readouterr().out
    folder = out / "close" / "2026-03"
    assert sorted(p.name for p in folder.iterdir()) == ["close_2026-03.html",
                                                         "close_2026-03.xlsx"]
    assert (tmp_path / "analyst.duckdb").is_file()
    assert main(["close", "--warehouse", warehouse, "--period", "2026-13"]) == 2
