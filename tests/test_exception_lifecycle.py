"""A defect found on one night and cured by a late record keeps its id and resolves that night."""

from __future__ import annotations

import datetime as dt
import json

from reconcile.config import default_settings
from reconcile.demo.generator import RULES, GeneratorOptions, generate
from reconcile.warehouse import Warehouse
from tests.engine_kit import day_range, run_days
from tests.landing_kit import write_control

START = dt.date(2026, 10, 1)


def _only(rule: str, rate: float) -> dict[str, float]:
    return {r: (rate if r == rule else 0.0) for r in RULES}


def _setup(tmp_path, rule: str, rate: float):
    options = GeneratorOptions(start=START, days=12, visits_per_day=10, seed=3,
                               defect_rates=_only(rule, rate))
    generate(tmp_path / "landing", options)
    return default_settings(tmp_path / "landing", tmp_path / "w.duckdb")


def _first_exception(settings, rule: str):
    with Warehouse(settings.warehouse_path).reader() as con:
        return con.execute(
            "SELECT exception_id, first_seen_run, facility, visit_number, item_or_ndc, "
            "cost_center, natural_account, service_date, expected_qty, actual_qty, "
            "expected_amount, actual_amount FROM recon.exceptions WHERE rule_id = $r "
            "ORDER BY first_seen_run, exception_id LIMIT 1", {"r": rule}).fetchone()


def _history(settings, exception_id: str):
    with Warehouse(settings.warehouse_path).reader() as con:
        events = con.execute("SELECT run, event FROM recon.exception_events "
                             "WHERE exception_id = $id ORDER BY run", {"id": exception_id}
                             ).fetchall()
        row = con.execute("SELECT status, resolved_at, first_seen_run FROM recon.exceptions "
                          "WHERE exception_id = $id", {"id": exception_id}).fetchone()
    return events, row


def _append(path, line: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(line)
    rows = sum(1 for text in path.read_text(encoding="utf-8").splitlines() if text.strip())
    if path.suffix == ".csv":
        rows -= 1
    write_control(path, rows)


def _cured_on_third_day(settings, rule: str, cure) -> None:
    """Run until the first exception of `rule` appears, cure it on day +3, check the history."""
    day = START
    found = None
    while found is None:
        run_days(settings, [day])
        found = _first_exception(settings, rule)
        day += dt.timedelta(days=1)
    first = dt.date.fromisoformat(found[1])
    run_days(settings, day_range(day, first + dt.timedelta(days=2)))
    cure_day = first + dt.timedelta(days=3)
    cure(cure_day, found)
    run_days(settings, [cure_day])
    events, (status, resolved_at, first_seen) = _history(settings, found[0])
    assert first_seen == first.isoformat()
    assert events == [(first.isoformat(), "opened"),
                      ((first + dt.timedelta(days=1)).isoformat(), "seen"),
                      ((first + dt.timedelta(days=2)).isoformat(), "seen"),
                      (cure_day.isoformat(), "resolved")]
    assert (status, resolved_at) == ("resolved", cure_day)


def test_gl_revenue_variance_cured_by_a_late_correcting_line(tmp_path):
    settings = _setup(tmp_path, "GL_REVENUE_VARIANCE", 0.5)

    def cure(day, found):
        _, _, facility, _, _, cost_center, account, batch_date, _, _, posted, ledger = found
        gl = settings.landing_root / f"erp/gl/GL_{day:%Y%m%d}.ndjson"
        entity = "999"  # the account's entity segment is not compared
        item = {"journal_id": f"JE-ADJ-{facility}", "line_number": 1, "ledger": "PRIMARY",
                "period": f"{day:%Y-%m}", "accounting_date": day.isoformat(),
                "posted_at": f"{day}T12:00:00", "status": "POSTED",
                "source": "REVENUE_INTERFACE",
                "account": f"{entity}-{cost_center}-{account}-00",
                "debit": "0.00", "credit": str(posted - ledger), "currency": "USD",
                "reference": f"{facility}-{batch_date:%Y%m%d}",
                "description": "Late correction", "updated_at": f"{day}T12:00:00"}
        _append(gl, json.dumps(item) + "\n")

    _cured_on_third_day(settings, "GL_REVENUE_VARIANCE", cure)


def test_pharmacy_shortfall_cured_by_a_late_cabinet_vend(tmp_path):
    settings = _setup(tmp_path, "MED_ADMINISTERED_NOT_DISPENSED", 0.3)

    def cure(day, found):
        _, _, facility, visit, ndc, _, _, _, dispensed, administered, _, _ = found
        adc = settings.landing_root / f"pharmacy/ADC_{facility}_{day:%Y%m%d}.csv"
        qty = administered - dispensed
        _append(adc, f"ADC-LATE-1,{day}T06:00:00,{facility},LATE-ADC,V,{visit},,,{ndc},"
                     f"LATE VEND,{qty},EA,RN0001,\r\n")

    _cured_on_third_day(settings, "MED_ADMINISTERED_NOT_DISPENSED", cure)
