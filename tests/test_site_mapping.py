"""A site with its own CSV layout maps it onto the reference feed in configuration, not code."""

from __future__ import annotations

import datetime as dt

import pytest

from reconcile.config import ConfigError, load_settings
from reconcile.pipeline import load_feed_day
from reconcile.warehouse import Warehouse
from tests.landing_kit import csv_text, write_feed_file

DAY = dt.date(2026, 11, 3)
REFERENCE = csv_text(
    ["txn_id", "txn_at", "facility", "cabinet_id", "txn_type", "visit_number", "mrn",
     "order_number", "ndc", "drug_description", "quantity", "unit", "user_id", "witness_id"],
    [["ADC-1", "2026-11-03T07:51:00", "CHILD", "PEDS-ADC-1", "V", "C55501", "MRN0042117",
      "RX99172", "63323026201", "HEPARIN 5000 UNIT/ML VIAL", "1", "VIAL", "RN4471", ""],
     ["ADC-2", "2026-11-03T08:03:00", "CHILD", "PEDS-ADC-1", "W", "C55501", "MRN0042117",
      "RX99172", "63323026201", "HEPARIN 5000 UNIT/ML VIAL", "0.5", "VIAL", "RN4471", "RN2210"],
     ["ADC-3", "2026-11-03T09:15:00", "CHILD", "PEDS-ADC-1", "L", "", "", "", "63323026201",
      "HEPARIN 5000 UNIT/ML VIAL", "20", "VIAL", "RX0001", ""]])
# The same three transactions as another vendor's cabinets export them: other headers and order,
# spelled-out transaction types, US dates, and a column the reference layout does not have.
SITE = csv_text(
    ["Station", "TxnNo", "When", "Facility", "Type", "Encounter", "PatientId", "OrderId",
     "NDC11", "Drug", "Qty", "UOM", "User", "Witness", "Pocket"],
    [["PEDS-ADC-1", "ADC-1", "11/03/2026 07:51", "CHILD", "VEND", "C55501", "MRN0042117",
      "RX99172", "63323026201", "HEPARIN 5000 UNIT/ML VIAL", "1", "VIAL", "RN4471", "", "A3"],
     ["PEDS-ADC-1", "ADC-2", "11/03/2026 08:03", "CHILD", "WASTE", "C55501", "MRN0042117",
      "RX99172", "63323026201", "HEPARIN 5000 UNIT/ML VIAL", "0.5", "VIAL", "RN4471", "RN2210",
      "A3"],
     ["PEDS-ADC-1", "ADC-3", "11/03/2026 09:15", "CHILD", "LOAD", "", "", "", "63323026201",
      "HEPARIN 5000 UNIT/ML VIAL", "20", "VIAL", "RX0001", "", "A3"]])
SITE_MAPPING = """
[feeds.cabinet_transactions]
channel = "file"
[feeds.cabinet_transactions.columns]
Station = "cabinet_id"
TxnNo = "txn_id"
When = "txn_at"
Facility = "facility"
Type = "txn_type"
Encounter = "visit_number"
PatientId = "mrn"
OrderId = "order_number"
NDC11 = "ndc"
Drug = "drug_description"
Qty = "quantity"
UOM = "unit"
User = "user_id"
Witness = "witness_id"
[feeds.cabinet_transactions.codes.txn_type]
VEND = "V"
RETURN = "R"
WASTE = "W"
LOAD = "L"
[feeds.cabinet_transactions.formats]
txn_at = "%m/%d/%Y %H:%M"
"""

COLUMNS = ("txn_id, txn_at, facility, cabinet_id, txn_type, visit_number, mrn, order_number, "
           "ndc, drug_description, quantity, unit, user_id, witness_id")


def _load(tmp_path, name: str, content: str, extra_config: str = ""):
    root = tmp_path / name
    write_feed_file(root / "landing", f"pharmacy/ADC_CHILD_{DAY:%Y%m%d}.csv", content)
    config = root / "chartledger.toml"
    config.write_text('[chartledger]\nlanding_root = "landing"\nwarehouse = "w.duckdb"\n'
                      + extra_config, encoding="utf-8")
    settings = load_settings(config)
    warehouse = Warehouse(settings.warehouse_path)
    warehouse.ensure_schema()
    with warehouse.writer() as con:
        result = load_feed_day(con, settings, "cabinet_transactions", DAY, "run")
        rows = con.execute(f"SELECT {COLUMNS} FROM staging.cabinet_transactions ORDER BY txn_id"
                           ).fetchall()
        rejected = con.execute('SELECT row_number, "column", value FROM staging.rejected_rows'
                               ).fetchall()
    return result, rows, rejected


def test_site_layout_loads_the_same_rows_as_the_reference_layout(tmp_path):
    _, reference_rows, _ = _load(tmp_path, "reference", REFERENCE)
    result, site_rows, rejected = _load(tmp_path, "site", SITE, SITE_MAPPING)
    assert rejected == []
    assert result.rows_loaded == 3
    assert site_rows == reference_rows
    assert site_rows[1][1] == dt.datetime(2026, 11, 3, 8, 3)
    assert [r[4] for r in site_rows] == ["V", "W", "L"]


def test_unmapped_site_code_is_quarantined_with_the_sites_value(tmp_path):
    content = SITE.replace("LOAD", "RESTOCK")
    result, rows, rejected = _load(tmp_path, "site", content, SITE_MAPPING)
    assert result.rows_loaded == 2
    assert rejected == [(3, "txn_type", "RESTOCK")]


def test_without_the_mapping_the_site_file_is_refused_as_schema_drift(tmp_path):
    result, rows, _ = _load(tmp_path, "site", SITE)
    assert rows == []
    assert result.outcomes[0].outcome == "rejected"
    assert "missing column(s): txn_id" in result.outcomes[0].reason


@pytest.mark.parametrize("bad, message", [
    ('[feeds.cabinet_transactions.columns]\nTxnNo = "transaction"\n', "unknown column"),
    ('[feeds.cabinet_transactions.codes.kind]\nVEND = "V"\n', "unknown column"),
    ('[feeds.cabinet_transactions.formats]\ntxn_at = "MM/DD/YYYY"\n', "strptime"),
])
def test_a_mapping_naming_unknown_columns_is_refused(tmp_path, bad, message):
    config = tmp_path / "c.toml"
    config.write_text('[chartledger]\nlanding_root = "l"\nwarehouse = "w.duckdb"\n' + bad,
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)
