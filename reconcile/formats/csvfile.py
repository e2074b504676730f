"""CSV reader (RFC 4180): BOM stripped, quoted fields and embedded newlines, header checked.

Two paths give the same rows, record numbers and issues: Arrow's native CSV reader for plain
files (no quote character, no blank line, valid UTF-8: then every line is one record), and
Python's `csv` module for everything else. A pre-scan of the bytes decides which.
"""

from __future__ import annotations

import codecs
import csv
import operator
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from reconcile.formats.records import (
    BATCH_ROWS,
    FileRejected,
    RecordBatch,
    RowIssue,
    clip,
    text_frame,
)

SCAN_CHUNK = 8 << 20
ARROW_BLOCK_BYTES = 4 << 20


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
    if _is_plain(path):
        yield from _read_plain(path, columns, report, rename)
    else:
        yield from _read_careful(path, columns, report, rename)


def _read_careful(path: Path, columns: Sequence[str], report: HeaderReport | None,
                  rename: dict[str, str] | None) -> Iterator[RecordBatch]:
    """Python's csv module: quoted fields, embedded newlines, blank lines, malformed records."""
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
            header, positions = _check_header(header, columns, report, rename)
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


def _check_header(raw: list[str], columns: Sequence[str], report: HeaderReport | None,
                  rename: dict[str, str] | None) -> tuple[list[str], list[int]]:
    """The header with site renames applied, and the position of each expected column."""
    header = [(rename or {}).get(h.strip(), h.strip()) for h in raw]
    missing = [c for c in columns if c not in header]
    if missing:
        raise FileRejected(f"missing column(s): {', '.join(missing)} (schema drift)")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise FileRejected(f"duplicate column(s) in header: {', '.join(dupes)}")
    if report is not None:
        report.extra = [h for h in header if h not in columns]
    return header, [header.index(c) for c in columns]


def _is_plain(path: Path) -> bool:
    """True when every line is one whole record, so Arrow and Python number records alike.

    That is: valid UTF-8, no blank line, an even number of quotes on every line (no quoted
    newline), and every quote next to a delimiter, a line end or another quote (no malformed
    quoting, which Python's strict reader would reject and Arrow might accept).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    scan = _QuoteScan()
    seen = False
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_CHUNK):
            seen = True
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
            if not scan.feed(chunk):
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return seen and scan.finish()  # an empty file goes the careful way (it has no header)


_NEWLINE, _CR, _QUOTE, _COMMA = 10, 13, 34, 44


class _QuoteScan:
    """Streaming check of quotes, blank lines and bare CRs over a file's bytes, chunk by chunk."""

    def __init__(self) -> None:
        self.before = np.frombuffer(b"\r\n", dtype=np.uint8)  # context: a line start
        self.open_quotes = 0  # quotes on the current, unfinished line

    def feed(self, chunk: bytes) -> bool:
        # two bytes of the previous chunk in front, so that patterns across the seam are seen
        data = np.concatenate((self.before, np.frombuffer(chunk, dtype=np.uint8)))
        newlines = np.flatnonzero(data == _NEWLINE)
        crs = np.flatnonzero(data[:-1] == _CR)
        if crs.size and np.any(data[crs + 1] != _NEWLINE):
            return False  # a CR not followed by LF: old line ends or a stray CR
        if newlines.size > 1:
            gaps = np.diff(newlines)
            if np.any(gaps == 1) or np.any((gaps == 2) & (data[newlines[1:] - 1] == _CR)):
                return False  # a blank line
        quotes = np.flatnonzero(data[2:] == _QUOTE) + 2  # the two context bytes were counted
        own_newlines = newlines[newlines >= 2]
        if own_newlines.size:
            before = np.searchsorted(quotes, own_newlines)  # quotes before each newline
            per_line = np.diff(before, prepend=0)
            per_line[0] += self.open_quotes
            if np.any(per_line % 2):
                return False  # a quoted field runs over a line end (or quotes are unbalanced)
            self.open_quotes = int(quotes.size - before[-1])
        else:
            self.open_quotes += int(quotes.size)
        if not _quotes_well_placed(data):
            return False
        self.before = data[-2:].copy()
        return True

    def finish(self) -> bool:
        if self.before[-1] == _CR:
            return False
        tail = np.concatenate((self.before, np.frombuffer(b"\n", dtype=np.uint8)))
        return self.open_quotes % 2 == 0 and _quotes_well_placed(tail)


def _quotes_well_placed(data: np.ndarray) -> bool:
    """Judge the quotes of `data` that have both neighbours in it, except position 0 (judged in
    the previous round); the last byte waits for the next round. A quote must touch a
    delimiter, a line end or another quote."""
    q = np.flatnonzero(data[1:-1] == _QUOTE) + 1
    if not q.size:
        return True
    allowed = (_COMMA, _NEWLINE, _CR, _QUOTE)
    ok = np.isin(data[q - 1], allowed) | np.isin(data[q + 1], allowed)
    return bool(ok.all())


def _read_plain(path: Path, columns: Sequence[str], report: HeaderReport | None,
                rename: dict[str, str] | None) -> Iterator[RecordBatch]:
    """Arrow's streaming reader on a plain file; line n+1 of the file is record n."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        raw = next(csv.reader(handle), None)
    if raw is None:
        raise FileRejected("file is empty (no header row)")
    header, positions = _check_header(raw, columns, report, rename)
    width = len(header)
    issues: list[RowIssue] = []

    def invalid(row: pacsv.InvalidRow) -> str:
        number = int(row.number) - 1  # physical line numbers count the header
        record = next(csv.reader([row.text]), [])
        issues.append(_field_count_issue(number, record, width))
        return "skip"

    slots = [f"c{i}" for i in range(width)]
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=slots, skip_rows=1, use_threads=False,
                                           block_size=ARROW_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={slot: pa.string() for slot in slots},
                include_columns=[slots[p] for p in positions],
                null_values=[""], strings_can_be_null=True),
        )
    except pa.ArrowInvalid:
        # e.g. a header and no record, which Arrow cannot skip past: let the careful path judge
        yield from _read_careful(path, columns, report, rename)
        return
    next_record = 1
    for block in reader:
        # every invalid line of this block was reported before the block was returned (lines
        # of later blocks may have been too: only numbers from next_record on are stepped over)
        skipped = sorted(i.row_number for i in issues if i.row_number >= next_record)
        numbers = _valid_numbers(next_record, block.num_rows, skipped)
        if numbers.size:
            next_record = int(numbers[-1]) + 1
        data: dict[str, object] = {"row_number": numbers}
        for name, slot in zip(columns, (slots[p] for p in positions), strict=True):
            data[name] = pd.arrays.ArrowStringArray(block.column(slot).cast(pa.string()))
        yield RecordBatch(frame=pd.DataFrame(data), issues=[])
    if issues:
        yield RecordBatch(frame=text_frame([], list(columns)), issues=issues)


def _valid_numbers(first: int, count: int, skipped: list[int]) -> np.ndarray:
    """Record numbers of `count` valid rows from `first` on, stepping over the skipped ones."""
    numbers = np.arange(first, first + count + len(skipped), dtype="int64")
    if skipped:
        numbers = numbers[~np.isin(numbers, np.asarray(skipped, dtype="int64"))]
    return numbers[:count]


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
