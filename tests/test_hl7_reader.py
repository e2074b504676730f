"""HL7 v2 reader (reconcile.formats.hl7v2): separators, envelopes, escapes, structure problems.

Segments are built by field number (feeds.md is authoritative for positions: PV1-10 hospital
service, PV1-19 visit number, PV1-44/45 admit/discharge). Expected values are written by hand.
"""

from __future__ import annotations

from pathlib import Path

import hl7
import pandas as pd
import pytest

from reconcile.formats.hl7v2 import hl7_date, hl7_timestamp, read_adt, read_charges
from reconcile.formats.records import FileRejected, RowIssue

ESCAPED = r"a\F\b\S\c\T\d\R\e\E\f\X41\g"  # HL7 escapes for | ^ & ~ \ and hex 0x41 ("A")
UNESCAPED = "a|b^c&d~e\\fAg"


def seg(name: str, fields: dict[int, str]) -> str:
    """A segment with fields placed by HL7 field number (1-based); gaps stay empty."""
    return "|".join([name] + [fields.get(i, "") for i in range(1, max(fields) + 1)])


def msh(when: str, kind: str, control_id: str) -> str:
    # MSH-1 is the field separator itself, MSH-2 the encoding characters.
    return f"MSH|^~\\&|EHR|NORTH|CHARTLEDGER|NORTH|{when}||{kind}|{control_id}|P|2.5.1"


PID = seg("PID", {1: "1", 3: "MRN0042117^^^NORTH^MR~OLD77^^^LEGACY^PI", 5: "RIVERA^ANA",
                  18: "ACCT88120045"})


def adt_segments(control_id: str, event: str, when: str, visit: str, admit: str,
                 discharge: str = "", service: str = "MEDS") -> list[str]:
    pv1 = {1: "1", 2: "I", 3: "MED^212^B^NORTH", 10: service, 19: visit, 44: admit}
    if discharge:
        pv1[45] = discharge
    return [msh(when, f"ADT^{event}", control_id), f"EVN|{event}|{when}", PID, seg("PV1", pv1)]


def ft1(set_id: str, txn: str, service: str, post: str, code: str, amount: str,
        description: str = "XR CHEST 2 VIEWS", modifiers: str = "") -> str:
    fields = {1: set_id, 2: txn, 4: service, 5: post, 6: "CG", 7: f"{code}^{description}^CDM",
              10: "1", 11: amount, 12: amount, 13: "IMG", 20: "1962487755", 21: "1184736251",
              23: "ORD55120", 25: "71046"}
    if modifiers:
        fields[26] = modifiers
    return seg("FT1", fields)


def dft_segments(control_id: str, visit: str, *ft1s: str, pv1: bool = True) -> list[str]:
    segments = [msh("202603022300", "DFT^P03", control_id), "EVN|P03|202603022300", PID]
    if pv1:
        segments.append(seg("PV1", {1: "1", 2: "I", 3: "MED^212^B^NORTH", 10: "MEDS", 19: visit}))
    return segments + list(ft1s)


ADT_MESSAGES = [
    adt_segments("ADTN0001", "A01", "202603010815", "N55501", "202603010800"),
    adt_segments("ADTN0002", "A03", "20260304163012", "N55501", "202603010800", "20260304163012"),
]

EXPECTED_ADT = [
    {"row_number": 1, "message_control_id": "ADTN0001", "message_type": "ADT^A01",
     "event_type": "A01", "message_at": "2026-03-01T08:15:00", "event_at": "2026-03-01T08:15:00",
     "mrn": "MRN0042117", "account_number": "ACCT88120045", "patient_class": "I",
     "location_unit": "MED", "facility": "NORTH", "hospital_service": "MEDS",
     "visit_number": "N55501", "admit_at": "2026-03-01T08:00:00", "discharge_at": None},
    {"row_number": 2, "message_control_id": "ADTN0002", "message_type": "ADT^A03",
     "event_type": "A03", "message_at": "2026-03-04T16:30:12", "event_at": "2026-03-04T16:30:12",
     "mrn": "MRN0042117", "account_number": "ACCT88120045", "patient_class": "I",
     "location_unit": "MED", "facility": "NORTH", "hospital_service": "MEDS",
     "visit_number": "N55501", "admit_at": "2026-03-01T08:00:00",
     "discharge_at": "2026-03-04T16:30:12"},
]


def write(tmp_path: Path, content: str | bytes, name: str = "feed.hl7") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def file_text(messages: list[list[str]], seg_sep: str = "\r", msg_sep: str = "\n") -> str:
    return "".join(seg_sep.join(m) + msg_sep for m in messages)


def collect(batches) -> tuple[list[dict], list[RowIssue]]:
    rows: list[dict] = []
    issues: list[RowIssue] = []
    for batch in batches:
        rows.extend(batch.frame.to_dict("records"))
        issues.extend(batch.issues)
    return [{k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else v)
             for k, v in row.items()} for row in rows], issues


@pytest.mark.parametrize("seg_sep", ["\r", "\n", "\r\n"], ids=["CR", "LF", "CRLF"])
def test_any_segment_separator_gives_the_same_adt_rows(tmp_path, seg_sep):
    msg_sep = "\n" if seg_sep == "\r" else seg_sep
    rows, issues = collect(read_adt(write(tmp_path, file_text(ADT_MESSAGES, seg_sep, msg_sep))))
    assert issues == []
    assert rows == EXPECTED_ADT


def test_segment_separators_give_the_same_charge_rows(tmp_path):
    messages = [dft_segments("D1", "N55501", ft1("1", "T1", "20260301", "20260302", "310044", "310.00"),
                             ft1("2", "T2", "20260301", "20260302", "320010", "95.00"))]
    results = []
    for i, (seg_sep, msg_sep) in enumerate([("\r", "\n"), ("\n", "\n"), ("\r\n", "\r\n")]):
        results.append(collect(read_charges(write(tmp_path, file_text(messages, seg_sep, msg_sep),
                                                  f"f{i}.hl7"))))
    assert results[0] == results[1] == results[2]
    rows, issues = results[0]
    assert issues == []
    assert [(r["transaction_id"], r["cdm_code"], r["extended_amount"]) for r in rows] == [
        ("T1", "310044", "310.00"), ("T2", "320010", "95.00")]


def test_batch_envelope_is_ignored(tmp_path):
    plain = collect(read_adt(write(tmp_path, file_text(ADT_MESSAGES), "plain.hl7")))
    enveloped = (
        "FHS|^~\\&|EHR|NORTH|CHARTLEDGER|NORTH|202603050100\r"
        "BHS|^~\\&|EHR|NORTH|CHARTLEDGER|NORTH|202603050100\r"
        + file_text(ADT_MESSAGES)
        + "BTS|2\rFTS|1\r"
    )
    wrapped = collect(read_adt(write(tmp_path, enveloped, "wrapped.hl7")))
    assert wrapped == plain
    assert [r["message_control_id"] for r in wrapped[0]] == ["ADTN0001", "ADTN0002"]
    assert wrapped[1] == []


def test_escape_sequences_are_unescaped(tmp_path):
    adt = adt_segments("ADTN0003", "A04", "202603011000", "N55502", "202603011000",
                       service=r"CARD\T\VASC")
    dft = dft_segments("D2", "N55502", ft1("1", "T9", "20260301", "20260301", "310044", "10.00",
                                           description=ESCAPED))
    adt_rows, _ = collect(read_adt(write(tmp_path, file_text([adt]), "adt.hl7")))
    dft_rows, _ = collect(read_charges(write(tmp_path, file_text([dft]), "dft.hl7")))
    assert adt_rows[0]["hospital_service"] == "CARD&VASC"
    assert dft_rows[0]["cdm_description"] == UNESCAPED
    # the hl7 package agrees on the same escape sequences
    parsed = hl7.parse("\r".join(dft))
    assert parsed.unescape(ESCAPED) == UNESCAPED


@pytest.mark.parametrize(("raw", "expected"), [
    ("59~LT", "59~LT"),
    ("26^PROFESSIONAL~TC^TECHNICAL", "26~TC"),
    ("25", "25"),
    ("", None),
])
def test_repeating_modifiers_are_joined_with_tilde(tmp_path, raw, expected):
    msg = dft_segments("D3", "N55503", ft1("1", "T10", "20260301", "20260301", "310044", "10.00",
                                           modifiers=raw))
    rows, _ = collect(read_charges(write(tmp_path, file_text([msg]))))
    assert rows[0]["modifiers"] == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("202603010815", "2026-03-01T08:15:00"),
    ("20260301081530", "2026-03-01T08:15:30"),
    ("20260301", "2026-03-01T00:00:00"),
    ("202603010815-0500", "2026-03-01T08:15:00"),  # local time kept, offset dropped
    ("20260301081530.1234+0100", "2026-03-01T08:15:30"),
])
def test_hl7_timestamps_become_iso(raw, expected):
    assert hl7_timestamp(raw) == expected


def test_hl7_timestamp_with_hour_precision():
    assert hl7_timestamp("2026030108") == "2026-03-01T08:00:00"


@pytest.mark.parametrize(("raw", "expected"), [
    ("20260301", "2026-03-01"),
    ("202603021130", "2026-03-02"),
    ("20260302113045+0100", "2026-03-02"),
])
def test_hl7_dates_become_iso(raw, expected):
    assert hl7_date(raw) == expected


def test_dft_service_and_posting_dates_are_iso(tmp_path):
    msg = dft_segments("D4", "N55504", ft1("1", "T11", "20260301", "202603021130", "310044", "1.00"))
    rows, _ = collect(read_charges(write(tmp_path, file_text([msg]))))
    assert (rows[0]["service_date"], rows[0]["post_date"]) == ("2026-03-01", "2026-03-02")


def test_stray_segment_before_first_msh_is_a_row_issue(tmp_path):
    text = "EVN|A01|202603010815\r" + file_text(ADT_MESSAGES)
    rows, issues = collect(read_adt(write(tmp_path, text)))
    assert len(issues) == 1
    issue = issues[0]
    assert issue.check == "hl7_structure"
    assert issue.value == "EVN|A01|202603010815"
    assert "no MSH" in issue.reason
    assert issue.row_number == 1  # a headless message is a record of its own
    # the messages after it still load, numbered after it
    assert rows == [{**r, "row_number": r["row_number"] + 1} for r in EXPECTED_ADT]


def test_dft_without_ft1_or_pv1_is_a_row_issue(tmp_path):
    good = dft_segments("D5", "N55505", ft1("1", "T12", "20260301", "20260301", "310044", "5.00"))
    no_ft1 = dft_segments("D6", "N55506")
    no_pv1 = dft_segments("D7", "N55507", ft1("1", "T13", "20260301", "20260301", "310044", "5.00"),
                          pv1=False)
    rows, issues = collect(read_charges(write(tmp_path, file_text([good, no_ft1, no_pv1]))))
    assert [(r["row_number"], r["transaction_id"]) for r in rows] == [(1, "T12")]
    assert [(i.row_number, i.check, i.column) for i in issues] == [
        (2, "hl7_structure", "FT1"), (3, "hl7_structure", "PV1")]
    assert "FT1" in issues[0].reason and "PV1" in issues[1].reason


def test_adt_without_pv1_is_a_row_issue(tmp_path):
    no_pv1 = ADT_MESSAGES[0][:3]  # MSH, EVN, PID
    rows, issues = collect(read_adt(write(tmp_path, file_text([no_pv1, ADT_MESSAGES[1]]))))
    assert [r["message_control_id"] for r in rows] == ["ADTN0002"]
    assert [(i.row_number, i.column) for i in issues] == [(1, "PV1")]


def test_invalid_utf8_rejects_the_file(tmp_path):
    text = file_text(ADT_MESSAGES).encode("utf-8").replace(b"RIVERA", b"RIV\xe9RA", 1)
    with pytest.raises(FileRejected) as info:
        collect(read_adt(write(tmp_path, text)))
    assert "UTF-8" in info.value.reason


def test_utf8_bom_and_non_ascii_text_are_read(tmp_path):
    text = "\ufeff" + file_text([adt_segments("ADTN0009", "A04", "202603011000", "N5550Ü",
                                              "202603011000")])
    rows, issues = collect(read_adt(write(tmp_path, text)))
    assert issues == []
    assert rows[0]["message_control_id"] == "ADTN0009"
    assert rows[0]["visit_number"] == "N5550Ü"


def test_adt_fields_agree_with_the_hl7_package(tmp_path):
    rows, _ = collect(read_adt(write(tmp_path, file_text(ADT_MESSAGES))))
    for row, segments in zip(rows, ADT_MESSAGES, strict=True):
        msg = hl7.parse("\r".join(segments))
        assert row["message_control_id"] == msg["MSH.F10"]
        assert row["message_type"] == str(msg.segment("MSH")(9))
        assert row["mrn"] == msg["PID.F3.R1.C1"]
        assert row["account_number"] == msg["PID.F18"]
        assert row["patient_class"] == msg["PV1.F2"]
        assert row["facility"] == msg["PV1.F3.R1.C4"]
        assert row["hospital_service"] == msg["PV1.F10"]
        assert row["visit_number"] == msg["PV1.F19"]
        assert hl7_timestamp(msg["PV1.F44"]) == row["admit_at"]
        assert (hl7_timestamp(msg["PV1.F45"] or None)) == row["discharge_at"]
    # and both agree with the hand-written values
    assert [r["visit_number"] for r in rows] == ["N55501", "N55501"]


def test_dft_fields_agree_with_the_hl7_package(tmp_path):
    messages = [
        dft_segments("D8", "N55508",
                     ft1("1", "CH7781001", "20261102", "20261103", "310044", "310.00", modifiers="59~LT"),
                     ft1("2", "CH7781002", "20261102", "20261103", "320010", "95.00")),
        dft_segments("D9", "N55509", ft1("1", "CH7781003", "20261103", "20261103", "330120", "1840.00")),
    ]
    rows, _ = collect(read_charges(write(tmp_path, file_text(messages))))
    expected = []
    for segments in messages:
        msg = hl7.parse("\r".join(segments))
        for segment in msg.segments("FT1"):
            expected.append({
                "message_control_id": msg["MSH.F10"],
                "visit_number": msg["PV1.F19"],
                "facility": msg["PV1.F3.R1.C4"],
                "transaction_id": str(segment(2)),
                "cdm_code": str(segment(7)(1)(1)),
                "quantity": str(segment(10)),
                "extended_amount": str(segment(11)),
                "department_code": str(segment(13)),
                "performing_npi": str(segment(20)),
                "ordering_npi": str(segment(21)),
                "cpt_hcpcs": str(segment(25)),
            })
    assert [{k: r[k] for k in expected[0]} for r in rows] == expected
    assert [(r["row_number"], r["transaction_id"], r["visit_number"]) for r in rows] == [
        (1, "CH7781001", "N55508"), (1, "CH7781002", "N55508"), (2, "CH7781003", "N55509")]
