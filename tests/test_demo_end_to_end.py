"""`chartledger generate` + `chartledger run` over 7 days, scored against the ground truth."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from reconcile.cli import main
from reconcile.warehouse import Warehouse
from tests.engine_kit import table_fingerprints

START, DAYS = dt.date(2026, 10, 1), 7
END = START + dt.timedelta(days=DAYS - 1)
RULES = ("MISSING_CHARGE", "UNDOCUMENTED_CHARGE", "DUPLICATE_CHARGE", "UNKNOWN_CDM")
KEY = ("rule_id", "facility", "visit_number", "cdm_code", "service_date")


def _generate_and_run(root: Path, defect_scale: str, days: int = DAYS) -> Path:
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    end = START + dt.timedelta(days=days - 1)
    assert main(["generate", "--out", str(landing), "--start", START.isoformat(),
                 "--days", str(days), "--visits-per-day", "12", "--seed", "11",
                 "--defect-scale", defect_scale]) == 0
    assert main(["run", "--landing", str(landing), "--warehouse", str(warehouse),
                 "--start", START.isoformat(), "--end", end.isoformat()]) == 0
    return root


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    return _generate_and_run(tmp_path_factory.mktemp("demo"), "3.0")


def _truth(root: Path) -> set[tuple[str, ...]]:
    with (root / "landing" / "truth.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {tuple(r[k] for k in KEY) for r in rows
            if r["rule_id"] in RULES and r["detectable_from"] <= END.isoformat()}


def _open(root: Path) -> set[tuple[str, ...]]:
    with Warehouse(root / "warehouse.duckdb").reader() as con:
        rows = con.execute(
            "SELECT rule_id, facility, visit_number, cdm_code, strftime(service_date, '%Y-%m-%d') "
            "FROM recon.exceptions WHERE status = 'open' AND list_contains($rules, rule_id)",
            {"rules": list(RULES)}).fetchall()
    return {tuple("" if v is None else v for v in r) for r in rows}


def test_every_injected_defect_is_found_and_nothing_else(demo_run, capsys):
    truth, found = _truth(demo_run), _open(demo_run)
    with capsys.disabled():
        for rule in RULES:
            t = {k for k in truth if k[0] == rule}
            f = {k for k in found if k[0] == rule}
            print(f"\n  {rule:<22} injected {len(t):>3}  found {len(f):>3}  "
                  f"missed {len(t - f):>3}  extra {len(f - t):>3}", end="")
    assert all(any(k[0] == rule for k in truth) for rule in RULES), "truth lacks a rule"
    assert found - truth == set(), "reported without a defect"
    assert truth - found == set(), "defect not reported"


def test_rerunning_the_range_changes_no_table(demo_run):
    # the last three nights of the range through the CLI again (the whole range is rerun by the
    # engine-level tests: test_charge_rules, test_match_evidence_changes)
    warehouse = demo_run / "warehouse.duckdb"
    with Warehouse(warehouse).reader() as con:
        before = table_fingerprints(con)
    rerun_from = END - dt.timedelta(days=2)
    assert main(["run", "--landing", str(demo_run / "landing"), "--warehouse", str(warehouse),
                 "--start", rerun_from.isoformat(), "--end", END.isoformat()]) == 0
    with Warehouse(warehouse).reader() as con:
        assert table_fingerprints(con) == before


def test_defect_free_data_opens_no_exception(tmp_path):
    # five nights: past the charge window (3 days), so a missing charge would already show
    root = _generate_and_run(tmp_path, "0", days=5)
    with (root / "landing" / "truth.csv").open() as handle:
        assert len(handle.read().strip().splitlines()) == 1  # header only
    with Warehouse(root / "warehouse.duckdb").reader() as con:
        rows = con.execute("SELECT rule_id, detail FROM recon.exceptions").fetchall()
        rejected = con.execute("SELECT count(*) FROM staging.rejected_rows").fetchone()[0]
    assert rows == []
    assert rejected == 0
