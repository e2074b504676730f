"""Compare recon.exceptions with the generator's truth.csv, rule by rule, on business keys."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb

CHARGE = ("facility", "visit_number", "cdm_code", "service_date")
KEYS: dict[str, tuple[str, ...]] = {
    **{r: CHARGE for r in ("MISSING_CHARGE", "CHARGE_QTY_MISMATCH", "UNDOCUMENTED_CHARGE",
                           "DUPLICATE_CHARGE", "UNKNOWN_CDM", "UNKNOWN_VISIT",
                           "CHARGE_OUTSIDE_STAY")},
    "LATE_CHARGE": (*CHARGE, "transaction_id"),
    "PRICE_MISMATCH": (*CHARGE, "transaction_id"),
    **{r: ("facility", "visit_number", "item_or_ndc")
       for r in ("MED_DISPENSED_NOT_ADMINISTERED", "MED_ADMINISTERED_NOT_DISPENSED",
                 "WASTE_UNWITNESSED", "SUPPLY_NOT_RELIEVED", "SUPPLY_NOT_DOCUMENTED")},
    "UNMAPPED_DEPARTMENT": ("facility", "department_code"),
    "UNMAPPED_ITEM": ("facility", "item_or_ndc"),
    **{r: ("facility", "cost_center", "natural_account", "service_date")
       for r in ("GL_REVENUE_VARIANCE", "GL_INVENTORY_VARIANCE", "GL_UNPOSTED_BATCH",
                 "LABOR_GL_VARIANCE")},
    **{r: ("facility", "visit_number")
       for r in ("ACCOUNT_TOTAL_MISMATCH", "DISCHARGED_NOT_FINAL_BILLED",
                 "ENCOUNTER_NO_ACCOUNT")},
}


def truth_keys(truth_csv: Path, as_of: dt.date) -> set[tuple[str, ...]]:
    with truth_csv.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["detectable_from"] <= as_of.isoformat()]
    return {(r["rule_id"], *(r[c] for c in KEYS[r["rule_id"]])) for r in rows}


def found_keys(con: duckdb.DuckDBPyConnection) -> set[tuple[str, ...]]:
    rows = con.execute(
        "SELECT rule_id, facility, visit_number, cdm_code, item_or_ndc, "
        "strftime(service_date, '%Y-%m-%d') AS service_date, cost_center, natural_account, "
        "department_code, source_refs AS transaction_id FROM recon.exceptions "
        "WHERE status = 'open'").fetchall()
    names = ["rule_id", "facility", "visit_number", "cdm_code", "item_or_ndc", "service_date",
             "cost_center", "natural_account", "department_code", "transaction_id"]
    out = set()
    for row in rows:
        rec = {k: ("" if v is None else str(v)) for k, v in zip(names, row, strict=True)}
        out.add((rec["rule_id"], *(rec[c] for c in KEYS[rec["rule_id"]])))
    return out


def score(truth: set[tuple[str, ...]], found: set[tuple[str, ...]]) -> dict[str, tuple[int, int, int]]:
    """rule -> (injected, missed, extra)."""
    rules = sorted({k[0] for k in truth | found})
    return {r: (sum(1 for k in truth if k[0] == r),
                sum(1 for k in truth - found if k[0] == r),
                sum(1 for k in found - truth if k[0] == r)) for r in rules}
