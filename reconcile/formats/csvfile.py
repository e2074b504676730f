"""CSV reader (RFC 4180): BOM stripped, quoted fields and embedded newlines, header checked."""

from __future__ import annotations

import csv
import operator
from collections.abc import Iterator, Sequence
from pathlib import Path

from reconcile.formats.records import BATCH_ROWS, FileRejected, RecordBatch, RowIssue, clip, text_frame


class HeaderReport:
    """What the header said compared with the expected columns (extra columns are a warning)."""

    def __init__(self) -> None:
        self.extra: list[str] = []

    @property
    def warning(self) -> str | None:
        return f"extra column(s) ignored: {', '.join(self.extra)}" if self.extra else None


def read_csv(path: Path, columns: Sequence[str], report: HeaderReport | None = None,
             rename: dict[str, str] | None = None) -> Iterator[RecordBatch]:
    """Rows of a CSV file with the expected `columns`; row_number counts records, header excluded.

    A missing expected column rejects the file (schema drift); `rename` maps a site's header
    names onto the reference names first.
    """
    names = list(columns)
    rows: list[tuple[str | int, ...]] = []
    issues: list[RowIssue] = []
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                raise FileRejected("file is empty (no header row)") from None
            header = [(rename or {}).get(h.strip(), h.strip()) for h in header]
            missing = [c for c in columns if c not in header]
            if missing:
                raise FileRejected(f"missing column(s): {', '.join(missing)} (schema drift)")
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise FileRejected(f"duplicate column(s) in header: {', '.join(dupes)}")
            if report is not None:
                report.extra = [h for h in header if h not in columns]
            positions = [header.index(c) for c in columns]
            pick = operator.itemgetter(*positions) if len(positions) > 1 else (
                lambda rec, p=positions[0]: (rec[p],))
            width = len(header)
            number = 0
            while True:  # the for loop resumes after a malformed record (csv.Error)
                try:
                    for record in reader:
                        if not record:  # a blank line is not a record
                            continue
                        number += 1
                        if len(record) != width:
                            issues.append(_field_count_issue(number, record, width))
                        else:
                            rows.append((number, *pick(record)))
                        if len(rows) + len(issues) >= BATCH_ROWS:
                            yield _batch(rows, issues, names)
                            rows, issues = [], []
                    break
                except csv.Error as exc:
                    number += 1
                    issues.append(RowIssue(number, "csv_syntax", None, None,
                                           f"malformed CSV record: {exc}"))
    except UnicodeDecodeError as exc:
        raise FileRejected(f"file is not valid UTF-8 (byte {exc.start}): wrong encoding") from exc
    if rows or issues:
        yield _batch(rows, issues, names)


def _field_count_issue(number: int, record: list[str], width: int) -> RowIssue:
    return RowIssue(
        number, "field_count", None, clip(",".join(record)),
        f"record has {len(record)} fields, header has {width}"
        + (" (truncated line?)" if len(record) < width else ""),
    )


def _batch(rows: list[tuple[str | int, ...]], issues: list[RowIssue], names: list[str]) -> RecordBatch:
    """Build the batch column by column; empty strings become None (null)."""
    frame = text_frame(rows, names, empty_is_null=True)
    return RecordBatch(frame=frame, issues=issues)
