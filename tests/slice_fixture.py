"""A tiny hand-made health system whose defects are known by construction (not by our code).

Facility NORTH, business dates 2026-03-01 .. 2026-03-08:
- N1 inpatient 03-01..03-04. Procedure 310044 on 03-01 charged, credited and re-charged (clean);
  procedure 320010 on 03-02 never charged -> MISSING_CHARGE once 03-02 + 3 days has passed
  (first reported as of 03-06, $95.00); 330120 charged on 03-03 with nothing documented ->
  UNDOCUMENTED_CHARGE ($1,840.00).
- N2 outpatient 03-02. Procedure 310044 on 03-02 charged twice under two transaction ids with
  identical lines -> DUPLICATE_CHARGE ($310.00 extra); procedure 400100 on 03-03, a code that is
  inactive in the chargemaster, documented and charged -> UNKNOWN_CDM (and nothing else).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.landing_kit import csv_text, hl7_message, write_feed_file

CDM_HEADER = ["cdm_code", "description", "revenue_code", "cpt_hcpcs", "ndc", "department_code",
              "unit_price", "gl_revenue_account", "effective_from", "effective_to", "status"]
CDM_ROWS = [
    ["310044", "XR CHEST 2 VIEWS", "0324", "71046", "", "IMG", "310.00", "4110", "2026-01-01", "",
     "A"],
    ["320010", "IV PUMP PER DAY", "0260", "", "", "MED", "95.00", "4120", "2026-01-01", "", "A"],
    ["330120", "BONE ANCHOR 5.0MM", "0278", "C1713", "", "SURG", "1840.00", "4130", "2026-01-01",
     "", "A"],
    ["400100", "RETIRED CODE", "0300", "", "", "IMG", "50.00", "4110", "2026-01-01", "", "I"],
]
DEPT_HEADER = ["source_system", "source_department_code", "facility", "cost_center"]
DEPT_ROWS = [["EHR", "IMG", "NORTH", "8120"], ["EHR", "MED", "NORTH", "6010"],
             ["EHR", "SURG", "NORTH", "8150"]]

DAYS = [f"2026-03-{d:02d}" for d in range(1, 9)]


def _adt(control_id: str, event: str, when: str, visit: str, klass: str, admit: str,
         discharge: str = "") -> str:
    pv1 = ["PV1", "1", klass, "MED^101^A^NORTH"] + [""] * 6 + ["MED"] + [""] * 8 + [visit]
    pv1 += [""] * 24 + [admit, discharge]
    return hl7_message(
        f"MSH|^~\\&|EHR|NORTH|CHARTLEDGER|NORTH|{when}||ADT^{event}|{control_id}|P|2.5.1",
        f"EVN|{event}|{when}",
        "PID|1||MRN0000001^^^NORTH^MR||DOE^JANE||19800101|F||||||||||ACCT1",
        "|".join(pv1),
    )


def _ft1(set_id: int, txn: str, service: str, post: str, kind: str, code: str, qty: str,
         amount: str, dept: str) -> str:
    f = ["FT1", str(set_id), txn, "", service, post, kind, f"{code}^DESC^CDM", "", "", qty, amount,
         amount, dept, "", "", "", "", "", "", "1962487755", "1962487755", "", "ORD1", "", "", ""]
    return "|".join(f)


def _dft(control_id: str, when: str, visit: str, *ft1: str) -> str:
    return hl7_message(
        f"MSH|^~\\&|EHR|NORTH|CHARTLEDGER|NORTH|{when}||DFT^P03|{control_id}|P|2.5.1",
        f"EVN|P03|{when}",
        "PID|1||MRN0000001^^^NORTH^MR||DOE^JANE||19800101|F||||||||||ACCT1",
        "|".join(["PV1", "1", "I", "MED^101^A^NORTH"] + [""] * 6 + ["MED"] + [""] * 8 + [visit]),
        *ft1,
    )


def _procedure(pid: str, code: str, visit: str, when: str, dept: str) -> str:
    return json.dumps({
        "resourceType": "Procedure", "id": pid, "status": "completed",
        "code": {"coding": [{"system": "urn:chartledger:cdm", "code": code}]},
        "subject": {"reference": "Patient/MRN0000001"},
        "encounter": {"identifier": {"value": visit}},
        "performedDateTime": when,
        "extension": [{"url": "urn:chartledger:department", "valueString": dept},
                      {"url": "urn:chartledger:facility", "valueString": "NORTH"}],
    })


def build(root: Path) -> None:
    """Write all eight days of the fixture into the landing root."""
    adt = {
        "20260301": [_adt("A1", "A01", "202603010800", "N1", "I", "202603010800")],
        "20260302": [_adt("A2", "A04", "202603020900", "N2", "O", "202603020900")],
        "20260304": [_adt("A3", "A03", "202603041500", "N1", "I", "202603010800",
                          "202603041500")],
    }
    charges = {
        "20260302": [
            _dft("D1", "202603022300", "N1",
                 _ft1(1, "T1", "20260301", "20260302", "CG", "310044", "1", "310.00", "IMG"),
                 _ft1(2, "T2", "20260301", "20260302", "CD", "310044", "1", "310.00", "IMG"),
                 _ft1(3, "T3", "20260301", "20260302", "CG", "310044", "1", "310.00", "IMG")),
            _dft("D2", "202603022300", "N2",
                 _ft1(1, "T4", "20260302", "20260302", "CG", "310044", "1", "310.00", "IMG")),
        ],
        "20260303": [
            _dft("D3", "202603032300", "N2",
                 _ft1(1, "T5", "20260302", "20260303", "CG", "310044", "1", "310.00", "IMG"),
                 _ft1(2, "T6", "20260303", "20260303", "CG", "400100", "1", "50.00", "IMG")),
            _dft("D4", "202603032300", "N1",
                 _ft1(1, "T7", "20260303", "20260303", "CG", "330120", "1", "1840.00", "SURG")),
        ],
    }
    procedures = {
        "20260301": [_procedure("p1", "310044", "N1", "2026-03-01T10:00:00", "IMG")],
        "20260302": [_procedure("p2", "320010", "N1", "2026-03-02T10:00:00", "MED"),
                     _procedure("p3", "310044", "N2", "2026-03-02T11:00:00", "IMG")],
        "20260303": [_procedure("p4", "400100", "N2", "2026-03-03T09:00:00", "IMG")],
    }
    for iso in DAYS:
        stamp = iso.replace("-", "")
        write_feed_file(root, f"master/CDM_{stamp}.csv", csv_text(CDM_HEADER, CDM_ROWS))
        write_feed_file(root, f"master/DEPTMAP_{stamp}.csv", csv_text(DEPT_HEADER, DEPT_ROWS))
        write_feed_file(root, f"ehr/adt/ADT_NORTH_{stamp}.hl7", "".join(adt.get(stamp, [])))
        write_feed_file(root, f"ehr/charges/DFT_NORTH_{stamp}.hl7",
                        "".join(charges.get(stamp, [])))
        lines = procedures.get(stamp, [])
        write_feed_file(root, f"ehr/fhir/Procedure_{stamp}.ndjson",
                        "".join(line + "\n" for line in lines))
