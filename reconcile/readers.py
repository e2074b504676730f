"""Which reader and which pandera model serve each feed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandera.pandas as pa

from reconcile.formats.csvfile import HeaderReport, read_csv
from reconcile.formats.fhir import read_med_administrations, read_procedures
from reconcile.formats.hl7v2 import read_adt, read_charges
from reconcile.formats.jsonitems import read_gl_lines, read_timecards
from reconcile.formats.records import RecordBatch
from reconcile.schemas import feeds as models

Reader = Callable[[Path, HeaderReport, dict[str, str] | None], Iterator[RecordBatch]]

CSV_COLUMNS: dict[str, list[str]] = {
    "case_supplies": ["case_id", "facility", "visit_number", "documented_at", "department_code",
                      "item_id", "quantity", "implant_flag", "serial_number"],
    "item_master": ["item_id", "description", "unit", "unit_cost", "category", "chargeable",
                    "implant", "cdm_code", "hcpcs", "status"],
    "chargemaster": ["cdm_code", "description", "revenue_code", "cpt_hcpcs", "ndc",
                     "department_code", "unit_price", "gl_revenue_account", "effective_from",
                     "effective_to", "status"],
    "department_map": ["source_system", "source_department_code", "facility", "cost_center"],
    "cabinet_transactions": ["txn_id", "txn_at", "facility", "cabinet_id", "txn_type",
                             "visit_number", "mrn", "order_number", "ndc", "drug_description",
                             "quantity", "unit", "user_id", "witness_id"],
    "inventory_transactions": ["txn_id", "txn_at", "txn_type", "item_id", "quantity", "unit",
                               "unit_cost", "facility", "from_location", "department_code",
                               "visit_number", "case_id"],
    "cost_centers": ["cost_center", "facility", "name", "service_line", "natural_account_revenue",
                     "active", "valid_from", "valid_to"],
    "billing_accounts": ["visit_number", "facility", "mrn", "account_number", "patient_class",
                         "admit_date", "discharge_date", "account_status", "final_bill_date",
                         "total_charges"],
}

MODELS: dict[str, type[pa.DataFrameModel]] = {
    "adt": models.AdtEvent,
    "charges": models.Charge,
    "procedures": models.Procedure,
    "med_administrations": models.MedAdministration,
    "case_supplies": models.CaseSupply,
    "item_master": models.ItemMaster,
    "chargemaster": models.Chargemaster,
    "department_map": models.DepartmentMap,
    "cabinet_transactions": models.CabinetTransaction,
    "inventory_transactions": models.InventoryTransaction,
    "gl_journal_lines": models.GlJournalLine,
    "cost_centers": models.CostCenter,
    "billing_accounts": models.BillingAccount,
    "timecards": models.Timecard,
}


def _ignore_report(fn: Callable[[Path], Iterator[RecordBatch]]) -> Reader:
    return lambda path, report, rename: fn(path)


def _csv(columns: list[str]) -> Reader:
    return lambda path, report, rename: read_csv(path, columns, report, rename)


READERS: dict[str, Reader] = {
    "adt": _ignore_report(read_adt),
    "charges": _ignore_report(read_charges),
    "procedures": _ignore_report(read_procedures),
    "med_administrations": _ignore_report(read_med_administrations),
    "gl_journal_lines": _ignore_report(read_gl_lines),
    "timecards": _ignore_report(read_timecards),
    **{name: _csv(cols) for name, cols in CSV_COLUMNS.items()},
}

SUPPORTED_FEEDS = tuple(READERS)
