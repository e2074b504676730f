"""CSV (RFC 4180) and FHIR NDJSON readers: record numbering, header drift, broken lines."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from reconcile.config import default_settings
from reconcile.formats.csvfile import HeaderReport, read_csv
from reconcile.formats.fhir import read_med_administrations, read_procedures
from reconcile.formats.records import FileRejected, RowIssue
from reconcile.pipeline import load_feed_day
from reconcile.schemas.feeds import MedAdministration, Procedure
from reconcile.validation import validate_batch
from reconcile.warehouse import Warehouse
from tests.landing_kit import write_feed_file

DEPT = ["source_system", "source_department_code", "facility", "cost_center"]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def collect(batches) -> tuple[list[dict], list[RowIssue]]:
    rows: list[dict] = []
    issues: list[RowIssue] = []
    for batch in batches:
        rows.extend(batch.frame.to_dict("records"))
        issues.extend(batch.issues)
    return rows, issues


# --- CSV -----------------------------------------------------------------------------------------

def test_csv_bom_is_stripped_and_first_column_found(tmp_path):
    path = write(tmp_path, "d.csv", "\ufeffsource_system,source_department_code,facility,cost_center\r\n"
                                    "EHR,IMG,NORTH,8120\r\n")
    rows, issues = collect(read_csv(path, DEPT))
    assert issues == []
    assert rows == [{"row_number": 1, "source_system": "EHR", "source_department_code": "IMG",
                     "facility": "NORTH", "cost_center": "8120"}]


def test_quoted_embedded_newline_is_one_record(tmp_path):
    text = ("item_id,description,unit\n"
            'IT-1,"BONE ANCHOR\n5.0MM",EA\n'
            "IT-2,SUTURE,BX\n")
    rows, issues = collect(read_csv(write(tmp_path, "i.csv", text), ["item_id", "description", "unit"]))
    assert issues == []
    assert [(r["row_number"], r["item_id"], r["description"]) for r in rows] == [
        (1, "IT-1", "BONE ANCHOR\n5.0MM"), (2, "IT-2", "SUTURE")]


def test_embedded_newline_counts_as_one_record_against_the_control_file(tmp_path):
    root = tmp_path / "landing"
    text = ("source_system,source_department_code,facility,cost_center\n"
            'EHR,"IMG\nX",NORTH,8120\n'
            "EHR,MED,NORTH,6010\n")
    write_feed_file(root, "master/DEPTMAP_20260301.csv", text, rows=2)  # 2 records, 4 lines
    settings = default_settings(root, tmp_path / "w.duckdb")
    warehouse = Warehouse(settings.warehouse_path)
    warehouse.ensure_schema()
    with warehouse.writer() as con:
        result = load_feed_day(con, settings, "department_map", dt.date(2026, 3, 1), "run-1")
        assert [o.outcome for o in result.outcomes] == ["loaded"]
        assert con.execute("SELECT row_number, source_department_code FROM staging.department_map "
                           "ORDER BY row_number").fetchall() == [(1, "IMG\nX"), (2, "MED")]


def test_field_count_mismatch_is_a_row_issue_with_its_record_number(tmp_path):
    text = ("item_id,description,unit\n"
            'IT-1,"TWO\nLINES",EA\n'     # record 1 spans two lines
            "IT-2,SUTURE\n"               # record 2: one field short
            "IT-3,GAUZE,PK,EXTRA\n"       # record 3: one field too many
            "IT-4,TAPE,RL\n")
    rows, issues = collect(read_csv(write(tmp_path, "i.csv", text), ["item_id", "description", "unit"]))
    assert [(r["row_number"], r["item_id"]) for r in rows] == [(1, "IT-1"), (4, "IT-4")]
    assert [(i.row_number, i.check) for i in issues] == [(2, "field_count"), (3, "field_count")]
    assert issues[0].value == "IT-2,SUTURE"
    assert "2 fields" in issues[0].reason and "3" in issues[0].reason
    assert "4 fields" in issues[1].reason


def test_empty_string_is_null(tmp_path):
    text = "item_id,description,unit\nIT-1,,EA\n"
    rows, _ = collect(read_csv(write(tmp_path, "i.csv", text), ["item_id", "description", "unit"]))
    assert rows[0]["description"] is None


def test_missing_column_rejects_the_file_naming_the_column(tmp_path):
    text = "source_system,source_department_code,facility\nEHR,IMG,NORTH\n"
    with pytest.raises(FileRejected) as info:
        collect(read_csv(write(tmp_path, "d.csv", text), DEPT))
    assert "cost_center" in info.value.reason


def test_extra_column_is_a_header_warning_and_ignored(tmp_path):
    text = "source_system,site_note,source_department_code,facility,cost_center\nEHR,hello,IMG,NORTH,8120\n"
    report = HeaderReport()
    rows, issues = collect(read_csv(write(tmp_path, "d.csv", text), DEPT, report))
    assert issues == []
    assert rows == [{"row_number": 1, "source_system": "EHR", "source_department_code": "IMG",
                     "facility": "NORTH", "cost_center": "8120"}]
    assert report.warning is not None and "site_note" in report.warning


def test_no_warning_without_extra_columns(tmp_path):
    report = HeaderReport()
    collect(read_csv(write(tmp_path, "d.csv", ",".join(DEPT) + "\nEHR,IMG,NORTH,8120\n"), DEPT, report))
    assert report.warning is None


def test_columns_in_another_order_are_matched_by_name(tmp_path):
    text = "cost_center,facility,source_department_code,source_system\n8120,NORTH,IMG,EHR\n"
    rows, _ = collect(read_csv(write(tmp_path, "d.csv", text), DEPT))
    assert rows == [{"row_number": 1, "source_system": "EHR", "source_department_code": "IMG",
                     "facility": "NORTH", "cost_center": "8120"}]


def test_duplicate_header_column_rejects_the_file(tmp_path):
    text = "source_system,source_department_code,facility,cost_center,facility\nEHR,IMG,NORTH,8120,SOUTH\n"
    with pytest.raises(FileRejected) as info:
        collect(read_csv(write(tmp_path, "d.csv", text), DEPT))
    assert "duplicate" in info.value.reason and "facility" in info.value.reason


def _rows_and_issues(batches):
    rows, issues = [], []
    for batch in batches:
        frame = batch.frame.astype(object).where(batch.frame.notna(), None)
        rows += [tuple(r) for r in frame[["row_number", "a", "b", "c"]].itertuples(index=False)]
        issues += [(i.row_number, i.check, i.value, i.reason) for i in batch.issues]
    return rows, sorted(issues)


def test_arrow_and_python_csv_paths_give_the_same_rows_numbers_and_issues(tmp_path, monkeypatch):
    """Plain files take Arrow's reader; forcing the Python reader on the same bytes must give
    identical rows, record numbers and issues (short and long records, empty fields, no final
    newline, CRLF and LF)."""
    import random

    from reconcile.formats import csvfile

    rng = random.Random(7)
    plain_values = [b"", b"x", b"yy", b"\xc3\xa9", b'"q,1"', b'"a""b"', b'""']
    odd_values = [b'"multi\nline"', b'ab"c', b'"abc"x', b'"open']
    fast = 0
    for case in range(300):
        values = plain_values + (odd_values if case % 3 == 0 else [])
        lines = [b"a,b,c"]
        for _ in range(rng.randint(0, 40)):
            width = rng.choice([3, 3, 3, 3, 2, 4])
            lines.append(b",".join(rng.choice(values) for _ in range(width)))
        path = tmp_path / f"case{case}.csv"
        path.write_bytes(rng.choice([b"\n", b"\r\n"]).join(lines) + rng.choice([b"", b"\n"]))
        fast += csvfile._is_plain(path)
        arrow = _rows_and_issues(read_csv(path, ["a", "b", "c"]))
        with monkeypatch.context() as m:
            m.setattr(csvfile, "_is_plain", lambda _path: False)
            python = _rows_and_issues(read_csv(path, ["a", "b", "c"]))
        assert arrow == python, path.read_bytes()
    assert fast >= 200  # the cases without odd values are plain: the Arrow path was compared


@pytest.mark.parametrize("content", [b'a,b,c\n1,"2\n2",3\n', b"a,b,c\n1,2,3\n\n4,5,6\n",
                                     b"a,b,c\n1,\xff,3\n", b'a,b,c\n1,"2"x,3\n',
                                     b"\na,b,c\n", b""])
def test_quotes_blank_lines_and_bad_bytes_take_the_careful_path(tmp_path, content):
    from reconcile.formats import csvfile

    path = tmp_path / "f.csv"
    path.write_bytes(content)
    assert not csvfile._is_plain(path)


def test_empty_csv_file_is_rejected(tmp_path):
    with pytest.raises(FileRejected):
        collect(read_csv(write(tmp_path, "d.csv", ""), DEPT))


def test_csv_invalid_utf8_rejects_the_file(tmp_path):
    content = (",".join(DEPT) + "\nEHR,IMG,N\xd6RTH,8120\n").encode("latin-1")
    with pytest.raises(FileRejected) as info:
        collect(read_csv(write(tmp_path, "d.csv", content), DEPT))
    assert "UTF-8" in info.value.reason


# --- FHIR NDJSON ---------------------------------------------------------------------------------

def procedure(pid: str, **extra) -> dict:
    res = {
        "resourceType": "Procedure", "id": pid, "status": "completed",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "71046"},
                            {"system": "urn:chartledger:cdm", "code": "310044"}]},
        "subject": {"reference": "Patient/MRN0042117"},
        "encounter": {"identifier": {"value": "C55501"}},
        "performedDateTime": "2026-11-02T14:05:00",
        "performer": [{"actor": {"identifier": {"value": "1962487755"}}}],
        "extension": [{"url": "urn:chartledger:department", "valueString": "IMG"},
                      {"url": "urn:chartledger:facility", "valueString": "CHILD"}],
    }
    res.update(extra)
    return res


def med_admin(mid: str, **extra) -> dict:
    res = {
        "resourceType": "MedicationAdministration", "id": mid, "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc",
                                                  "code": "63323026201"}]},
        "subject": {"reference": "Patient/MRN0042117"}, "context": {"identifier": {"value": "C55501"}},
        "effectiveDateTime": "2026-11-03T08:00:00", "dosage": {"dose": {"value": 1, "unit": "VIAL"}},
        "request": {"identifier": {"value": "RX99172"}},
        "extension": [{"url": "urn:chartledger:department", "valueString": "PHARM"},
                      {"url": "urn:chartledger:facility", "valueString": "CHILD"}],
    }
    res.update(extra)
    return res


def ndjson(*lines: dict | str) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def test_procedure_fields_from_the_reference_example(tmp_path):
    rows, issues = collect(read_procedures(write(tmp_path, "p.ndjson", ndjson(procedure("pr-9f3a")))))
    assert issues == []
    assert rows == [{"row_number": 1, "resource_id": "pr-9f3a", "status": "completed",
                     "cpt_code": "71046", "cdm_code": "310044", "mrn": "MRN0042117",
                     "visit_number": "C55501", "performed_at": "2026-11-02T14:05:00",
                     "performer_npi": "1962487755", "department_code": "IMG", "facility": "CHILD"}]


def test_med_administration_fields_from_the_reference_example(tmp_path):
    rows, issues = collect(read_med_administrations(write(tmp_path, "m.ndjson",
                                                          ndjson(med_admin("ma-17c2")))))
    assert issues == []
    assert rows == [{"row_number": 1, "resource_id": "ma-17c2", "status": "completed",
                     "ndc": "63323026201", "mrn": "MRN0042117", "visit_number": "C55501",
                     "effective_at": "2026-11-03T08:00:00", "dose_value": "1", "dose_unit": "VIAL",
                     "order_number": "RX99172", "department_code": "PHARM", "facility": "CHILD"}]


def test_broken_json_line_is_a_row_issue_and_other_lines_load(tmp_path):
    text = ndjson(procedure("p1"), '{"resourceType": "Procedure", "id": "p2", ', procedure("p3"))
    rows, issues = collect(read_procedures(write(tmp_path, "p.ndjson", text)))
    assert [(r["row_number"], r["resource_id"]) for r in rows] == [(1, "p1"), (3, "p3")]
    assert len(issues) == 1
    assert (issues[0].row_number, issues[0].check, issues[0].column) == (2, "json_syntax", None)
    assert issues[0].value == '{"resourceType": "Procedure", "id": "p2",'
    assert "not valid JSON" in issues[0].reason


def test_line_numbers_are_physical_lines_of_the_file(tmp_path):
    text = ndjson(procedure("p1")) + "\n" + ndjson("{oops", procedure("p4"))  # line 2 is blank
    rows, issues = collect(read_procedures(write(tmp_path, "p.ndjson", text)))
    assert [(r["row_number"], r["resource_id"]) for r in rows] == [(1, "p1"), (4, "p4")]
    assert [i.row_number for i in issues] == [3]


def test_wrong_resource_type_is_a_row_issue(tmp_path):
    text = ndjson(procedure("p1"), {"resourceType": "Observation", "id": "o1"}, [1, 2])
    rows, issues = collect(read_procedures(write(tmp_path, "p.ndjson", text)))
    assert [r["resource_id"] for r in rows] == ["p1"]
    assert [(i.row_number, i.check, i.column, i.value) for i in issues] == [
        (2, "resource_type", "resourceType", "Observation"), (3, "resource_type", "resourceType", "list")]
    assert "Procedure" in issues[0].reason


def test_med_file_with_a_procedure_line_is_a_row_issue(tmp_path):
    text = ndjson(med_admin("m1"), procedure("p1"))
    rows, issues = collect(read_med_administrations(write(tmp_path, "m.ndjson", text)))
    assert [r["resource_id"] for r in rows] == ["m1"]
    assert [(i.row_number, i.value) for i in issues] == [(2, "Procedure")]


def test_performed_period_start_is_the_fallback(tmp_path):
    period_only = procedure("p1", performedPeriod={"start": "2026-11-02T09:30:00",
                                                   "end": "2026-11-02T10:45:00"})
    del period_only["performedDateTime"]
    both = procedure("p2", performedPeriod={"start": "2026-11-01T00:00:00"})  # dateTime wins
    rows, _ = collect(read_procedures(write(tmp_path, "p.ndjson", ndjson(period_only, both))))
    assert [r["performed_at"] for r in rows] == ["2026-11-02T09:30:00", "2026-11-02T14:05:00"]


def test_effective_period_start_is_the_fallback(tmp_path):
    period_only = med_admin("m1", effectivePeriod={"start": "2026-11-03T07:45:00",
                                                   "end": "2026-11-03T08:15:00"})
    del period_only["effectiveDateTime"]
    rows, _ = collect(read_med_administrations(write(tmp_path, "m.ndjson", ndjson(period_only))))
    assert rows[0]["effective_at"] == "2026-11-03T07:45:00"


def test_entered_in_error_status_is_read_and_valid(tmp_path):
    text = ndjson(procedure("p1", status="entered-in-error"))
    batches = list(read_procedures(write(tmp_path, "p.ndjson", text)))
    rows, _ = collect(batches)
    assert rows[0]["status"] == "entered-in-error"
    valid, issues, _ = validate_batch(batches[0].frame, Procedure)
    assert issues == []
    assert valid["status"].tolist() == ["entered-in-error"]


def test_med_entered_in_error_and_not_done_statuses(tmp_path):
    not_done = med_admin("m2", status="not-done")
    del not_done["dosage"]  # a dose is only required for completed administrations
    text = ndjson(med_admin("m1", status="entered-in-error"), not_done)
    batches = list(read_med_administrations(write(tmp_path, "m.ndjson", text)))
    rows, _ = collect(batches)
    assert [(r["resource_id"], r["status"], r["dose_value"]) for r in rows] == [
        ("m1", "entered-in-error", "1"), ("m2", "not-done", None)]
    valid, issues, _ = validate_batch(batches[0].frame, MedAdministration)
    assert issues == []
    assert valid["resource_id"].tolist() == ["m1", "m2"]


def test_ndjson_invalid_utf8_rejects_the_file(tmp_path):
    content = ndjson(procedure("p1")).encode("utf-8") + b'{"id": "\xff"}\n'
    with pytest.raises(FileRejected):
        collect(read_procedures(write(tmp_path, "p.ndjson", content)))


def test_performer_as_object_is_a_row_issue_not_a_crash(tmp_path):
    bad = procedure("p2", performer={"actor": {"identifier": {"value": "1962487755"}}})
    rows, issues = collect(read_procedures(write(tmp_path, "p.ndjson", ndjson(procedure("p1"), bad))))
    assert [r["resource_id"] for r in rows] == ["p1"]
    assert [(i.row_number, i.check) for i in issues] == [(2, "fhir_structure")]


def test_encounter_reference_resolves_through_exported_encounters(tmp_path):
    import json

    from reconcile.formats.fhir import read_procedures

    folder = tmp_path / "ehr" / "fhir"
    folder.mkdir(parents=True)
    encounter = {"resourceType": "Encounter", "id": "enc-1",
                 "identifier": [{"system": "urn:other", "value": "X"},
                                {"system": "urn:chartledger:visit", "value": "C55501"}]}
    (folder / "Encounter_20261101.ndjson").write_text(json.dumps(encounter) + "\n")
    proc = {"resourceType": "Procedure", "id": "p1", "status": "completed",
            "code": {"coding": [{"system": "urn:chartledger:cdm", "code": "310044"}]},
            "encounter": {"reference": "Encounter/enc-1"},
            "performedDateTime": "2026-11-02T14:05:00",
            "extension": [{"url": "urn:chartledger:facility", "valueString": "CHILD"}]}
    orphan = {**proc, "id": "p2", "encounter": {"reference": "Encounter/enc-9"}}
    path = folder / "Procedure_20261102.ndjson"
    path.write_text(json.dumps(proc) + "\n" + json.dumps(orphan) + "\n")
    batches = list(read_procedures(path))
    rows = [r for b in batches for r in b.frame.to_dict("records")]
    issues = [i for b in batches for i in b.issues]
    assert [(r["resource_id"], r["visit_number"]) for r in rows] == [("p1", "C55501")]
    assert [(i.row_number, i.column, i.check) for i in issues] == [
        (2, "encounter", "encounter_reference")]
    assert "Encounter/enc-9" in issues[0].reason
