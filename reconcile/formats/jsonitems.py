"""NDJSON readers for the API feeds (one API item per line): GL journal lines and timecards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reconcile.formats.fhir import iter_ndjson
from reconcile.formats.records import BatchBuilder, RecordBatch, RowIssue, clip

GL_COLUMNS = [
    "journal_id", "line_number", "ledger", "period", "accounting_date", "posted_at", "status",
    "source", "account", "entity", "cost_center", "natural_account", "sub_account", "debit",
    "credit", "currency", "reference", "description", "updated_at",
]
TIMECARD_COLUMNS = [
    "timecard_id", "employee_id", "facility", "cost_center", "work_date", "pay_code", "hours",
    "hourly_rate", "approved", "updated_at",
]


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return clip(str(value))
    return str(value)


def gl_row(item: dict[str, Any]) -> dict[str, Any]:
    row = {c: _text(item.get(c)) for c in GL_COLUMNS}
    parts = (row["account"] or "").split("-")
    if len(parts) == 4:
        row["entity"], row["cost_center"], row["natural_account"], row["sub_account"] = parts
    return row


def timecard_row(item: dict[str, Any]) -> dict[str, Any]:
    return {c: _text(item.get(c)) for c in TIMECARD_COLUMNS}


def _read_items(path: Path, columns: list[str],
                to_row: Callable[[dict[str, Any]], dict[str, Any]]) -> Iterator[RecordBatch]:
    builder = BatchBuilder(columns)
    for item in iter_ndjson(path):
        if isinstance(item, RowIssue):
            builder.reject(item)
            continue
        number, obj = item
        if not isinstance(obj, dict):
            builder.reject(RowIssue(number, "json_structure", None, clip(obj),
                                    "line is not a JSON object"))
            continue
        builder.add({"row_number": number, **to_row(obj)})
        if builder.full():
            yield builder.cut()
    yield from builder.drain()


def read_gl_lines(path: Path) -> Iterator[RecordBatch]:
    return _read_items(path, GL_COLUMNS, gl_row)


def read_timecards(path: Path) -> Iterator[RecordBatch]:
    return _read_items(path, TIMECARD_COLUMNS, timecard_row)
