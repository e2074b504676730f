"""Landing layout of the 14 reference feeds (feeds.md): file names per extract date and columns."""

from __future__ import annotations

import datetime as dt

CASE_SUPPLY_COLUMNS = ("case_id", "facility", "visit_number", "documented_at", "department_code",
                       "item_id", "quantity", "implant_flag", "serial_number")
CABINET_COLUMNS = ("txn_id", "txn_at", "facility", "cabinet_id", "txn_type", "visit_number", "mrn",
                   "order_number", "ndc", "drug_description", "quantity", "unit", "user_id",
                   "witness_id")
INVENTORY_COLUMNS = ("txn_id", "txn_at", "txn_type", "item_id", "quantity", "unit", "unit_cost",
                     "facility", "from_location", "department_code", "visit_number", "case_id")
ITEM_MASTER_COLUMNS = ("item_id", "description", "unit", "unit_cost", "category", "chargeable",
                       "implant", "cdm_code", "hcpcs", "status")
COST_CENTER_COLUMNS = ("cost_center", "facility", "name", "service_line",
                       "natural_account_revenue", "active", "valid_from", "valid_to")
CHARGEMASTER_COLUMNS = ("cdm_code", "description", "revenue_code", "cpt_hcpcs", "ndc",
                        "department_code", "unit_price", "gl_revenue_account", "effective_from",
                        "effective_to", "status")
DEPARTMENT_MAP_COLUMNS = ("source_system", "source_department_code", "facility", "cost_center")
BILLING_COLUMNS = ("visit_number", "facility", "mrn", "account_number", "patient_class",
                   "admit_date", "discharge_date", "account_status", "final_bill_date",
                   "total_charges")
TRUTH_COLUMNS = ("rule_id", "facility", "visit_number", "cdm_code", "item_or_ndc", "service_date",
                 "cost_center", "natural_account", "department_code", "case_id",
                 "transaction_id", "detectable_from")

# feed -> (relative path pattern, per facility?, CSV columns or None)
FEEDS: dict[str, tuple[str, bool, tuple[str, ...] | None]] = {
    "adt": ("ehr/adt/ADT_{fac}_{ymd}.hl7", True, None),
    "charges": ("ehr/charges/DFT_{fac}_{ymd}.hl7", True, None),
    "procedures": ("ehr/fhir/Procedure_{ymd}.ndjson", False, None),
    "med_administrations": ("ehr/fhir/MedicationAdministration_{ymd}.ndjson", False, None),
    "case_supplies": ("ehr/cases/CASESUP_{fac}_{ymd}.csv", True, CASE_SUPPLY_COLUMNS),
    "cabinet_transactions": ("pharmacy/ADC_{fac}_{ymd}.csv", True, CABINET_COLUMNS),
    "inventory_transactions": ("inventory/INVTXN_{ymd}.csv", False, INVENTORY_COLUMNS),
    "item_master": ("inventory/ITEMMAST_{ymd}.csv", False, ITEM_MASTER_COLUMNS),
    "gl_journal_lines": ("erp/gl/GL_{ymd}.ndjson", False, None),
    "cost_centers": ("erp/COSTCTR_{ymd}.csv", False, COST_CENTER_COLUMNS),
    "chargemaster": ("master/CDM_{ymd}.csv", False, CHARGEMASTER_COLUMNS),
    "department_map": ("master/DEPTMAP_{ymd}.csv", False, DEPARTMENT_MAP_COLUMNS),
    "billing_accounts": ("billing/ACCT_{ymd}.csv", False, BILLING_COLUMNS),
    "timecards": ("workforce/TIMECARDS_{ymd}.ndjson", False, None),
}


def feed_path(feed: str, day: dt.date, facility: str | None = None) -> str:
    """Relative landing path of a feed's file for an extract date (and facility where per-site)."""
    pattern, per_facility, _ = FEEDS[feed]
    if per_facility and facility is None:
        raise ValueError(f"feed {feed} is written per facility")
    return pattern.format(fac=facility or "", ymd=day.strftime("%Y%m%d"))
