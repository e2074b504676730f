"""The 14 reference feeds of feeds.md: where each lands, its format, and its staging table."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Feed:
    """One reference feed: its landing-path pattern (relative to the landing root) and its shape."""

    name: str
    feed_id: str
    source_system: str
    pattern_text: str  # human form, e.g. ehr/adt/ADT_<facility>_<YYYYMMDD>.hl7
    file_format: str  # hl7, ndjson, csv
    snapshot: bool  # full snapshot that replaces the previous one
    per_facility: bool
    staging_table: str

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.pattern_text)

    def path_for(self, extract_date: dt.date, facility: str | None = None) -> str:
        path = self.pattern_text.replace("<YYYYMMDD>", extract_date.strftime("%Y%m%d"))
        if self.per_facility:
            if facility is None:
                raise ValueError(f"feed {self.name} is per facility")
            path = path.replace("<facility>", facility)
        return path


@cache
def _compiled(pattern_text: str) -> re.Pattern[str]:
    text = re.escape(pattern_text)
    text = text.replace(re.escape("<facility>"), r"(?P<facility>[A-Z0-9_-]{1,16})")
    text = text.replace(re.escape("<YYYYMMDD>"), r"(?P<date>\d{8})")
    return re.compile(f"^{text}$")


_FEEDS = [
    Feed("adt", "F1", "EHR", "ehr/adt/ADT_<facility>_<YYYYMMDD>.hl7", "hl7", False, True,
         "adt_events"),
    Feed("charges", "F2", "EHR charge router", "ehr/charges/DFT_<facility>_<YYYYMMDD>.hl7", "hl7",
         False, True, "charges"),
    Feed("procedures", "F3", "EHR (FHIR Bulk)", "ehr/fhir/Procedure_<YYYYMMDD>.ndjson", "ndjson",
         False, False, "procedures"),
    Feed("med_administrations", "F4", "EHR eMAR (FHIR Bulk)",
         "ehr/fhir/MedicationAdministration_<YYYYMMDD>.ndjson", "ndjson", False, False,
         "med_administrations"),
    Feed("case_supplies", "F5", "EHR OR documentation", "ehr/cases/CASESUP_<facility>_<YYYYMMDD>.csv",
         "csv", False, True, "case_supplies"),
    Feed("cabinet_transactions", "F6", "Pharmacy cabinets", "pharmacy/ADC_<facility>_<YYYYMMDD>.csv",
         "csv", False, True, "cabinet_transactions"),
    Feed("inventory_transactions", "F7", "Materials management", "inventory/INVTXN_<YYYYMMDD>.csv",
         "csv", False, False, "inventory_transactions"),
    Feed("item_master", "F8", "Materials management", "inventory/ITEMMAST_<YYYYMMDD>.csv", "csv",
         True, False, "item_master"),
    Feed("gl_journal_lines", "F9", "Cloud ERP", "erp/gl/GL_<YYYYMMDD>.ndjson", "ndjson", False,
         False, "gl_journal_lines"),
    Feed("cost_centers", "F10", "ERP reporting database", "erp/COSTCTR_<YYYYMMDD>.csv", "csv", True,
         False, "cost_centers"),
    Feed("chargemaster", "F11", "Revenue cycle", "master/CDM_<YYYYMMDD>.csv", "csv", True, False,
         "chargemaster"),
    Feed("department_map", "F12", "Integration team", "master/DEPTMAP_<YYYYMMDD>.csv", "csv", True,
         False, "department_map"),
    Feed("billing_accounts", "F13", "Patient accounting", "billing/ACCT_<YYYYMMDD>.csv", "csv", True,
         False, "billing_accounts"),
    Feed("timecards", "F14", "Workforce management", "workforce/TIMECARDS_<YYYYMMDD>.ndjson",
         "ndjson", False, False, "timecards"),
]

FEEDS: dict[str, Feed] = {f.name: f for f in _FEEDS}


@dataclass(frozen=True)
class LandedName:
    """What a landing path says about itself: feed, facility (if any) and extract date."""

    feed: Feed
    relative_path: str
    extract_date: dt.date
    facility: str | None


def classify(relative_path: str) -> LandedName | None:
    """Match a path relative to the landing root against the feed patterns; None if no feed."""
    posix = str(PurePosixPath(relative_path))
    for feed in _FEEDS:
        m = feed.regex.match(posix)
        if not m:
            continue
        try:
            day = dt.datetime.strptime(m.group("date"), "%Y%m%d").date()
        except ValueError:
            return None
        facility = m.group("facility") if feed.per_facility else None
        return LandedName(feed, posix, day, facility)
    return None
