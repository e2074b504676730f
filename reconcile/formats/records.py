"""What every format reader yields: batches of string rows, plus rows it could not parse."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

BATCH_ROWS = 50_000
MAX_VALUE_CHARS = 200
LOCATOR = "_locator"  # optional column: where inside a record a row sits (e.g. "FT1 #2")
# Arrow-backed strings: null checks and regex checks run in Arrow's C++ kernels, not per element.
TEXT = pd.StringDtype("pyarrow")


class FileRejected(Exception):
    """The whole file is unusable (encoding, drift, control total); nothing of it may load."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Span:
    """A byte range [start, end) of a file that begins at a record boundary (an MSH segment of
    HL7, a line of NDJSON), read on its own by a parse worker process (reconcile.parallel_parse).

    A reader given a span numbers its records from 1 within the span; when it is done it leaves
    in `records` how many record numbers it used, so that the caller can shift the numbers of
    the spans that follow to the file's own record numbers.
    """

    start: int
    end: int
    records: int = 0


class _RangeReader(io.RawIOBase):
    """The bytes [start, end) of an open binary file, as a raw stream."""

    def __init__(self, handle: IO[bytes], start: int, end: int) -> None:
        super().__init__()
        handle.seek(start)
        self._handle = handle
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._left)
        if count <= 0:
            return 0
        got = self._handle.readinto(memoryview(buffer)[:count]) or 0
        self._left -= got
        return got

    def close(self) -> None:
        try:
            self._handle.close()
        finally:
            super().close()


def open_text(path: Path, span: Span | None, newline: str | None) -> IO[str]:
    """The file as text (UTF-8, a leading BOM dropped), or only the bytes of `span`: a span that
    starts inside the file starts at a record boundary, where no BOM can be."""
    if span is None:
        return path.open("r", encoding="utf-8-sig", newline=newline)
    raw = _RangeReader(path.open("rb"), span.start, span.end)
    return io.TextIOWrapper(io.BufferedReader(raw, 1 << 20),
                            encoding="utf-8-sig" if span.start == 0 else "utf-8", newline=newline)


@dataclass(frozen=True)
class RowIssue:
    """A record the reader could not turn into a row (it goes to staging.rejected_rows)."""

    row_number: int
    check: str
    column: str | None
    value: str | None
    reason: str


def text_frame(rows: list[tuple[Any, ...]], names: list[str],
               empty_is_null: bool = False) -> pd.DataFrame:
    """A batch frame from `(row_number, *values)` tuples, built column by column: int64
    `row_number` and TEXT columns (None is null, and so is "" when `empty_is_null`)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * (len(names) + 1)
    data: dict[str, Any] = {"row_number": np.asarray(columns[0], dtype="int64")}
    for name, values in zip(names, columns[1:], strict=True):
        data[name] = _text_array(values, empty_is_null)
    return pd.DataFrame(data)


def _text_array(values: tuple[str | None, ...], empty_is_null: bool) -> pd.api.extensions.ExtensionArray:
    array = pa.array(values, type=pa.string())
    return pd.arrays.ArrowStringArray(null_if_empty(array) if empty_is_null else array)


def null_if_empty(array: pa.Array) -> pa.Array:
    """"" becomes null: the same strings under a validity bitmap without them."""
    valid = pc.not_equal(array, "")
    if array.null_count:
        valid = pc.fill_null(valid, False)
    return pa.Array.from_buffers(pa.string(), len(array), [valid.buffers()[1], *array.buffers()[1:]],
                                 offset=array.offset)


@dataclass
class RecordBatch:
    """Up to BATCH_ROWS rows as a TEXT DataFrame (null for empty), with int64 `row_number`."""

    frame: pd.DataFrame
    issues: list[RowIssue] = field(default_factory=list)


@dataclass
class BatchBuilder:
    """Accumulates rows, as `(row_number, *columns)` tuples, and issues; cuts RecordBatches."""

    columns: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        """A row as a dict with `row_number` and the columns (a missing column is null)."""
        get = row.get
        self.rows.append((row["row_number"], *[get(c) for c in self.columns]))

    def add_values(self, values: tuple[Any, ...]) -> None:
        """A row as a tuple: row_number, then the values in the order of `columns`."""
        self.rows.append(values)

    def reject(self, issue: RowIssue) -> None:
        self.issues.append(issue)

    def full(self) -> bool:
        return len(self.rows) + len(self.issues) >= BATCH_ROWS

    def cut(self) -> RecordBatch:
        batch = RecordBatch(frame=text_frame(self.rows, self.columns), issues=self.issues)
        self.rows, self.issues = [], []
        return batch

    def drain(self) -> Iterator[RecordBatch]:
        if self.rows or self.issues:
            yield self.cut()


@dataclass
class NestedBatchBuilder:
    """Rows that repeat their parent record's values (the FT1 segments of a DFT message): each
    parent's values are kept once and spread over its rows when the batch is cut.

    A parent is `(row_number, *parent_columns values)`, a row `(*columns values)`; a parent's
    rows all land in the batch the parent is in.
    """

    parent_columns: list[str]
    columns: list[str]
    empty_is_null: bool = False  # of the row columns
    parents: list[tuple[Any, ...]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    parent_of_row: list[int] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)

    def add_parent(self, values: tuple[Any, ...]) -> None:
        self.parents.append(values)

    def add(self, values: tuple[Any, ...]) -> None:
        """A row of the parent added last."""
        self.rows.append(values)
        self.parent_of_row.append(len(self.parents) - 1)

    def add_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of the parent added last, at once."""
        self.rows.extend(rows)
        self.parent_of_row.extend([len(self.parents) - 1] * len(rows))

    def reject(self, issue: RowIssue) -> None:
        self.issues.append(issue)

    def full(self) -> bool:
        return len(self.rows) + len(self.issues) >= BATCH_ROWS

    def cut(self) -> RecordBatch:
        index = np.asarray(self.parent_of_row, dtype="int64")
        taken = pa.array(index, type=pa.int64())
        parents = list(zip(*self.parents, strict=True)) or [()] * (len(self.parent_columns) + 1)
        data: dict[str, Any] = {"row_number": np.asarray(parents[0], dtype="int64")[index]}
        for name, values in zip(self.parent_columns, parents[1:], strict=True):
            data[name] = pd.arrays.ArrowStringArray(pa.array(values, type=pa.string()).take(taken))
        for name, array in zip(self.columns, self.row_arrays(), strict=True):
            data[name] = pd.arrays.ArrowStringArray(array)
        frame = pd.DataFrame(data)
        batch = RecordBatch(frame=frame, issues=self.issues)
        self.parents, self.rows, self.parent_of_row, self.issues = [], [], [], []
        return batch

    def row_arrays(self) -> list[pa.Array]:
        """The row columns of the batch (a builder that keeps its rows otherwise says how)."""
        rows = list(zip(*self.rows, strict=True)) or [()] * len(self.columns)
        arrays = [pa.array(values, type=pa.string()) for values in rows]
        return [null_if_empty(a) for a in arrays] if self.empty_is_null else arrays

    def drain(self) -> Iterator[RecordBatch]:
        if self.rows or self.issues:
            yield self.cut()


def clip(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
