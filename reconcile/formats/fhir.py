"""FHIR R4 NDJSON readers for Procedure and MedicationAdministration (Bulk Data output files)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reconcile.formats.records import (
    BatchBuilder,
    FileRejected,
    RecordBatch,
    RowIssue,
    Span,
    clip,
    open_text,
)

CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
CDM_SYSTEM = "urn:chartledger:cdm"
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
VISIT_SYSTEM = "urn:chartledger:visit"  # identifier system of the visit number on Encounter
DEPARTMENT_EXT = "urn:chartledger:department"
FACILITY_EXT = "urn:chartledger:facility"

PROCEDURE_COLUMNS = [
    "resource_id", "status", "cpt_code", "cdm_code", "mrn", "visit_number", "performed_at",
    "performer_npi", "department_code", "facility",
]
MED_ADMIN_COLUMNS = [
    "resource_id", "status", "ndc", "mrn", "visit_number", "effective_at", "dose_value",
    "dose_unit", "order_number", "department_code", "facility",
]


def iter_ndjson(path: Path, span: Span | None = None) -> Iterator[tuple[int, Any] | RowIssue]:
    """(line number, parsed JSON) per non-empty line; a broken line yields a RowIssue.

    With a `span` (which starts at a line), only its lines are read, numbered from 1; the count
    of lines is left in `span.records`."""
    number = 0
    try:
        with open_text(path, span, newline="\n") as handle:
            for number, line in enumerate(handle, start=1):
                text = line.strip()
                if not text:
                    continue
                try:
                    # numbers keep their written digits: amounts never pass through floats
                    yield number, json.loads(text, parse_float=str)
                except json.JSONDecodeError as exc:
                    yield RowIssue(number, "json_syntax", None, clip(text),
                                   f"line is not valid JSON: {exc.msg} at column {exc.colno}")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"file is not valid UTF-8 (byte {exc.start}): wrong encoding") from exc
    if span is not None:
        span.records = number


def _coding(concept: Any, system: str) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def _extension(resource: dict[str, Any], url: str) -> str | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url and ext.get("valueString"):
            return str(ext["valueString"])
    return None


class EncounterIndex:
    """Visit numbers of Encounter resources exported beside a file, loaded on first need.

    A reference `Encounter/<id>` resolves through the `Encounter_<YYYYMMDD>.ndjson` files of the
    same folder up to the file's own extract date (a later export of an encounter wins), using
    the identifier whose system is VISIT_SYSTEM.
    """

    def __init__(self, path: Path, system: str = VISIT_SYSTEM) -> None:
        self.path = path
        self.system = system
        self._visits: dict[str, str] | None = None

    def visit(self, encounter_id: str) -> str | None:
        if self._visits is None:
            self._visits = self._load()
        return self._visits.get(encounter_id)

    def _load(self) -> dict[str, str]:
        stamp = self.path.stem.rsplit("_", 1)[-1]
        visits: dict[str, str] = {}
        for path in sorted(self.path.parent.glob("Encounter_*.ndjson")):
            if path.stem.rsplit("_", 1)[-1] > stamp:
                continue
            for item in iter_ndjson(path):
                if isinstance(item, RowIssue) or not isinstance(item[1], dict):
                    continue
                res = item[1]
                for ident in res.get("identifier") or []:
                    if (isinstance(ident, dict) and ident.get("system") == self.system
                            and ident.get("value") and res.get("id")):
                        visits[str(res["id"])] = str(ident["value"])
        return visits


class UnresolvedEncounter(ValueError):
    """An `Encounter/<id>` reference that no exported Encounter resolves."""


def _visit(reference: Any, encounters: EncounterIndex | None = None) -> str | None:
    """Visit number from an encounter reference: its identifier, or `Encounter/<id>` resolved
    through the Encounter resources of the export."""
    if not isinstance(reference, dict):
        return None
    ident = reference.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        return str(ident["value"])
    ref = reference.get("reference")
    if isinstance(ref, str) and ref.startswith("Encounter/") and encounters is not None:
        visit = encounters.visit(ref.split("/", 1)[1])
        if visit is None:
            raise UnresolvedEncounter(f"{ref} is not among the exported Encounter resources")
        return visit
    return None


def _subject_mrn(resource: dict[str, Any]) -> str | None:
    ref = (resource.get("subject") or {}).get("reference") if isinstance(
        resource.get("subject"), dict) else None
    if isinstance(ref, str) and ref.startswith("Patient/"):
        return ref.split("/", 1)[1]
    return None


def _start(resource: dict[str, Any], instant: str, period: str) -> str | None:
    value = resource.get(instant)
    if value is None and isinstance(resource.get(period), dict):
        value = resource[period].get("start")
    return str(value) if value is not None else None


def procedure_row(res: dict[str, Any], encounters: EncounterIndex | None = None
                  ) -> dict[str, Any]:
    performer = None
    performers = res.get("performer") or []
    if not isinstance(performers, list):
        raise TypeError("performer must be a list")
    if performers and isinstance(performers[0], dict):
        actor = performers[0].get("actor") or {}
        performer = (actor.get("identifier") or {}).get("value") if isinstance(actor, dict) else None
    return {
        "resource_id": res.get("id"),
        "status": res.get("status"),
        "cpt_code": _coding(res.get("code"), CPT_SYSTEM),
        "cdm_code": _coding(res.get("code"), CDM_SYSTEM),
        "mrn": _subject_mrn(res),
        "visit_number": _visit(res.get("encounter"), encounters),
        "performed_at": _start(res, "performedDateTime", "performedPeriod"),
        "performer_npi": performer,
        "department_code": _extension(res, DEPARTMENT_EXT),
        "facility": _extension(res, FACILITY_EXT),
    }


def med_admin_row(res: dict[str, Any], encounters: EncounterIndex | None = None
                  ) -> dict[str, Any]:
    dose = ((res.get("dosage") or {}).get("dose") or {}) if isinstance(res.get("dosage"), dict) \
        else {}
    request = res.get("request") or {}
    return {
        "resource_id": res.get("id"),
        "status": res.get("status"),
        "ndc": _coding(res.get("medicationCodeableConcept"), NDC_SYSTEM),
        "mrn": _subject_mrn(res),
        "visit_number": _visit(res.get("context"), encounters),
        "effective_at": _start(res, "effectiveDateTime", "effectivePeriod"),
        "dose_value": None if dose.get("value") is None else str(dose.get("value")),
        "dose_unit": dose.get("unit"),
        "order_number": (request.get("identifier") or {}).get("value")
        if isinstance(request, dict) else None,
        "department_code": _extension(res, DEPARTMENT_EXT),
        "facility": _extension(res, FACILITY_EXT),
    }


def _read_resources(path: Path, resource_type: str, columns: list[str],
                    to_row: Callable[..., dict[str, Any]], span: Span | None = None,
                    encounters: EncounterIndex | None = None) -> Iterator[RecordBatch]:
    builder = BatchBuilder(columns)
    encounters = encounters or EncounterIndex(path)
    for item in iter_ndjson(path, span):
        if isinstance(item, RowIssue):
            builder.reject(item)
            continue
        number, res = item
        if not isinstance(res, dict) or res.get("resourceType") != resource_type:
            kind = res.get("resourceType") if isinstance(res, dict) else type(res).__name__
            builder.reject(RowIssue(number, "resource_type", "resourceType", clip(kind),
                                    f"expected a {resource_type} resource"))
            continue
        try:
            row = to_row(res, encounters)
        except UnresolvedEncounter as exc:
            field = "encounter" if resource_type == "Procedure" else "context"
            builder.reject(RowIssue(number, "encounter_reference", field, clip(res.get("id")),
                                    str(exc)))
            continue
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            builder.reject(RowIssue(number, "fhir_structure", None, clip(res.get("id")),
                                    f"unexpected {resource_type} structure: {exc}"))
            continue
        builder.add({"row_number": number, **{k: _text(v) for k, v in row.items()}})
        if builder.full():
            yield builder.cut()
    yield from builder.drain()


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def read_procedures(path: Path, span: Span | None = None,
                    encounters: EncounterIndex | None = None) -> Iterator[RecordBatch]:
    return _read_resources(path, "Procedure", PROCEDURE_COLUMNS, procedure_row, span, encounters)


def read_med_administrations(path: Path, span: Span | None = None,
                             encounters: EncounterIndex | None = None) -> Iterator[RecordBatch]:
    return _read_resources(path, "MedicationAdministration", MED_ADMIN_COLUMNS, med_admin_row,
                           span, encounters)
