"""Quarantine contract: exactly the malformed record lands in staging.rejected_rows, the rest loads.

Each case is a file of several good records and one bad one, for the feeds adt, charges,
procedures, chargemaster and department_map. Row numbers are HL7 messages, NDJSON lines or CSV
data rows (1-based, header excluded); file_name is the path relative to the landing root.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest

from reconcile.config import default_settings
from reconcile.pipeline import load_feed_day
from reconcile.warehouse import Warehouse
from tests.landing_kit import csv_text, hl7_message, write_feed_file

DAY = dt.date(2026, 3, 1)
STAMP = "20260301"


def seg(name: str, fields: dict[int, str]) -> str:
    """A segment with fields placed by HL7 field number (1-based); gaps stay empty."""
    return "|".join([name] + [fields.get(i, "") for i in range(1, max(fields) + 1)])


def msh(kind: str, control_id: str, when: str = "202603010815") -> str:
    return f"MSH|^~\\&|EHR|NORTH|CHARTLEDGER|NORTH|{when}||{kind}|{control_id}|P|2.5.1"


PID = seg("PID", {1: "1", 3: "MRN0000001^^^NORTH^MR", 5: "DOE^JANE", 18: "ACCT1"})


def pv1(visit: str) -> str:
    return seg("PV1", {1: "1", 2: "I", 3: "MED^101^A^NORTH", 10: "MED", 19: visit, 44: "202603010800"})


def adt(control_id: str, event: str, visit: str) -> str:
    return hl7_message(msh(f"ADT^{event}", control_id), f"EVN|{event}|202603010815", PID, pv1(visit))


def ft1(set_id: int, txn: str, amount: str = "310.00", service: str = "20260301",
        post: str = "20260301", code: str = "310044") -> str:
    return seg("FT1", {1: str(set_id), 2: txn, 4: service, 5: post, 6: "CG", 7: f"{code}^DESC^CDM",
                       10: "1", 11: amount, 12: "310.00", 13: "IMG", 20: "1962487755",
                       21: "1962487755", 23: "ORD1"})


def dft(control_id: str, visit: str, *lines: str) -> str:
    return hl7_message(msh("DFT^P03", control_id, "202603012300"), "EVN|P03|202603012300", PID,
                       pv1(visit), *lines)


def procedure(pid: str, when: str = "2026-03-01T10:00:00") -> str:
    return json.dumps({
        "resourceType": "Procedure", "id": pid, "status": "completed",
        "code": {"coding": [{"system": "urn:chartledger:cdm", "code": "310044"}]},
        "subject": {"reference": "Patient/MRN0000001"},
        "encounter": {"identifier": {"value": "N1"}},
        "performedDateTime": when,
        "extension": [{"url": "urn:chartledger:department", "valueString": "IMG"},
                      {"url": "urn:chartledger:facility", "valueString": "NORTH"}],
    })


CDM_HEADER = ["cdm_code", "description", "revenue_code", "cpt_hcpcs", "ndc", "department_code",
              "unit_price", "gl_revenue_account", "effective_from", "effective_to", "status"]


def cdm(code: str, price: str = "310.00", start: str = "2026-01-01", end: str = "") -> list[str]:
    return [code, "DESC", "0324", "", "", "IMG", price, "4110", start, end, "A"]


DEPT_HEADER = ["source_system", "source_department_code", "facility", "cost_center"]


@dataclass(frozen=True)
class Case:
    feed: str
    path: str
    content: str
    row_number: int
    column: str | None
    value: str | None
    reason: str            # a phrase the reason must contain
    key_sql: str           # selects (row_number, key) of the feed's staging table
    good: list[tuple]      # the (row_number, key) rows that must load


ADT_SQL = "SELECT row_number, message_control_id FROM staging.adt_events"
DFT_SQL = "SELECT row_number, transaction_id FROM staging.charges"
PROC_SQL = "SELECT row_number, resource_id FROM staging.procedures"
CDM_SQL = "SELECT row_number, cdm_code FROM staging.chargemaster"
DEPT_SQL = "SELECT row_number, source_department_code FROM staging.department_map"

CASES = {
    "adt-invalid-event": Case(
        "adt", f"ehr/adt/ADT_NORTH_{STAMP}.hl7",
        adt("A1", "A01", "N1") + adt("A2", "A04", "N2") + adt("A3", "A99", "N3") + adt("A4", "A08", "N1"),
        3, "event_type", "A99", "event_type", ADT_SQL, [(1, "A1"), (2, "A2"), (4, "A4")]),
    "adt-missing-visit": Case(
        "adt", f"ehr/adt/ADT_NORTH_{STAMP}.hl7",
        adt("A1", "A01", "N1") + adt("A2", "A04", "") + adt("A3", "A03", "N1"),
        2, "visit_number", None, "required field visit_number is empty", ADT_SQL,
        [(1, "A1"), (3, "A3")]),
    "charges-non-numeric-amount": Case(
        "charges", f"ehr/charges/DFT_NORTH_{STAMP}.hl7",
        dft("D1", "N1", ft1(1, "T1"), ft1(2, "T2"))
        + dft("D2", "N2", ft1(1, "T3", amount="31O.00"))
        + dft("D3", "N3", ft1(1, "T4")),
        2, "extended_amount", "31O.00", "extended_amount", DFT_SQL,
        [(1, "T1"), (1, "T2"), (3, "T4")]),
    "charges-posted-before-service": Case(
        "charges", f"ehr/charges/DFT_NORTH_{STAMP}.hl7",
        dft("D1", "N1", ft1(1, "T1"))
        + dft("D2", "N2", ft1(1, "T2"), ft1(2, "T3", service="20260301", post="20260228"))
        + dft("D3", "N3", ft1(1, "T4")),
        2, "post_date", "2026-02-28", "before service date", DFT_SQL,
        [(1, "T1"), (2, "T2"), (3, "T4")]),
    "procedures-broken-json": Case(
        "procedures", f"ehr/fhir/Procedure_{STAMP}.ndjson",
        "\n".join([procedure("p1"), procedure("p2"), '{"resourceType": "Procedure", "id": "p3"',
                   procedure("p4")]) + "\n",
        3, None, '{"resourceType": "Procedure", "id": "p3"', "not valid JSON", PROC_SQL,
        [(1, "p1"), (2, "p2"), (4, "p4")]),
    "procedures-impossible-date": Case(
        "procedures", f"ehr/fhir/Procedure_{STAMP}.ndjson",
        "\n".join([procedure("p1"), procedure("p2", "2026-02-30T10:00:00"), procedure("p3")]) + "\n",
        2, "performed_at", "2026-02-30T10:00:00", "performed_at", PROC_SQL, [(1, "p1"), (3, "p3")]),
    "chargemaster-three-decimals": Case(
        "chargemaster", f"master/CDM_{STAMP}.csv",
        csv_text(CDM_HEADER, [cdm("310044"), cdm("320010", price="12.345"), cdm("330120")]),
        2, "unit_price", "12.345", "unit_price", CDM_SQL, [(1, "310044"), (3, "330120")]),
    "chargemaster-bad-effective-date": Case(
        "chargemaster", f"master/CDM_{STAMP}.csv",
        csv_text(CDM_HEADER, [cdm("310044"), cdm("320010"), cdm("330120", start="2026-13-01"),
                              cdm("400100")]),
        3, "effective_from", "2026-13-01", "effective_from", CDM_SQL,
        [(1, "310044"), (2, "320010"), (4, "400100")]),
    "department-map-missing-cost-center": Case(
        "department_map", f"master/DEPTMAP_{STAMP}.csv",
        csv_text(DEPT_HEADER, [["EHR", "IMG", "NORTH", "8120"], ["EHR", "MED", "NORTH", "6010"],
                               ["EHR", "LAB", "NORTH", ""], ["EHR", "SURG", "NORTH", "8150"]]),
        3, "cost_center", None, "required field cost_center is empty", DEPT_SQL,
        [(1, "IMG"), (2, "MED"), (4, "SURG")]),
    "department-map-truncated-row": Case(
        "department_map", f"master/DEPTMAP_{STAMP}.csv",
        csv_text(DEPT_HEADER, [["EHR", "IMG", "NORTH", "8120"], ["EHR", "MED", "NORTH"],
                               ["EHR", "SURG", "NORTH", "8150"]]),
        2, None, "EHR,MED,NORTH", "3 fields", DEPT_SQL, [(1, "IMG"), (3, "SURG")]),
}


@pytest.fixture()
def env(tmp_path):
    root = tmp_path / "landing"
    settings = default_settings(root, tmp_path / "w.duckdb")
    warehouse = Warehouse(settings.warehouse_path)
    warehouse.ensure_schema()
    return settings, warehouse


def load(env, feed: str):
    settings, warehouse = env
    with warehouse.writer() as con:
        return load_feed_day(con, settings, feed, DAY, "run-q")


def fetch(env, sql: str) -> list[tuple]:
    with env[1].writer() as con:
        return con.execute(sql).fetchall()


REJECTED_SQL = ('SELECT feed, file_name, row_number, "column", value, reason, run_id '
                "FROM staging.rejected_rows ORDER BY row_number")


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_only_the_malformed_record_is_quarantined(env, case):
    write_feed_file(env[0].landing_root, case.path, case.content)
    result = load(env, case.feed)
    assert [o.outcome for o in result.outcomes] == ["loaded"]

    rejected = fetch(env, REJECTED_SQL)
    assert len(rejected) == 1, rejected
    feed, file_name, row_number, column, value, reason, run_id = rejected[0]
    assert (feed, file_name, row_number, column, value, run_id) == (
        case.feed, case.path, case.row_number, case.column, case.value, "run-q")
    assert case.reason in reason

    assert sorted(fetch(env, case.key_sql)) == sorted(case.good)
    assert (result.rows_loaded, result.rows_rejected) == (len(case.good), 1)
    # every row of the staging table carries the file's lineage
    lineage = fetch(env, f"SELECT DISTINCT file_name, extract_date, load_run_id FROM "
                         f"staging.{case.key_sql.rsplit('staging.', 1)[1]}")
    assert lineage == [(case.path, DAY, "run-q")]


def test_good_charge_values_are_typed_in_staging(env):
    case = CASES["charges-non-numeric-amount"]
    write_feed_file(env[0].landing_root, case.path, case.content)
    load(env, "charges")
    rows = fetch(env, "SELECT transaction_id, facility, visit_number, service_date, post_date, "
                      "CAST(extended_amount AS VARCHAR), CAST(quantity AS VARCHAR) "
                      "FROM staging.charges ORDER BY transaction_id")
    assert rows == [
        ("T1", "NORTH", "N1", DAY, DAY, "310.00", "1.000"),
        ("T2", "NORTH", "N1", DAY, DAY, "310.00", "1.000"),
        ("T4", "NORTH", "N3", DAY, DAY, "310.00", "1.000"),
    ]


DUPLICATE_FILE = (
    dft("D1", "N1", ft1(1, "T100", amount="310.00"), ft1(2, "T101"))
    + dft("D2", "N2", ft1(1, "T102"), ft1(2, "T100", amount="95.00"))  # T100 again
)


def test_duplicate_transaction_id_rejects_only_the_second(env):
    path = f"ehr/charges/DFT_NORTH_{STAMP}.hl7"
    write_feed_file(env[0].landing_root, path, DUPLICATE_FILE)
    load(env, "charges")
    rejected = fetch(env, REJECTED_SQL)
    assert len(rejected) == 1
    feed, file_name, row_number, column, value, reason, _ = rejected[0]
    assert (feed, file_name, row_number, column, value) == ("charges", path, 2, "transaction_id", "T100")
    assert "duplicate" in reason
    loaded = fetch(env, "SELECT row_number, transaction_id, visit_number, CAST(extended_amount AS VARCHAR) "
                        "FROM staging.charges ORDER BY row_number, transaction_id")
    # the first T100 (message 1, visit N1, 310.00) is kept; the second (N2, 95.00) is not
    assert loaded == [(1, "T100", "N1", "310.00"), (1, "T101", "N1", "310.00"),
                      (2, "T102", "N2", "310.00")]


def test_check_column_names_the_dataframe_level_check(env):
    path = f"ehr/charges/DFT_NORTH_{STAMP}.hl7"
    write_feed_file(env[0].landing_root, path, DUPLICATE_FILE)
    load(env, "charges")
    assert fetch(env, 'SELECT "check" FROM staging.rejected_rows') == [("unique_facility_transaction_id",)]


def test_check_column_names_the_field_check(env):
    case = CASES["department-map-missing-cost-center"]
    write_feed_file(env[0].landing_root, case.path, case.content)
    load(env, "department_map")
    assert fetch(env, 'SELECT "check" FROM staging.rejected_rows') == [("not_nullable",)]
