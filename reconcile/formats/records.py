"""What every format reader yields: batches of string rows, plus rows it could not parse."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

BATCH_ROWS = 50_000
MAX_VALUE_CHARS = 200
LOCATOR = "_locator"  # optional column: where inside a record a row sits (e.g. "FT1 #2")


class FileRejected(Exception):
    """The whole file is unusable (encoding, drift, control total); nothing of it may load."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RowIssue:
    """A record the reader could not turn into a row (it goes to staging.rejected_rows)."""

    row_number: int
    check: str
    column: str | None
    value: str | None
    reason: str


@dataclass
class RecordBatch:
    """Up to BATCH_ROWS rows as a string DataFrame (None for empty), with `row_number`."""

    frame: pd.DataFrame
    issues: list[RowIssue] = field(default_factory=list)


@dataclass
class BatchBuilder:
    """Accumulates row dicts and issues and cuts them into RecordBatches."""

    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)
    records_seen: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def reject(self, issue: RowIssue) -> None:
        self.issues.append(issue)

    def full(self) -> bool:
        return len(self.rows) + len(self.issues) >= BATCH_ROWS

    def cut(self) -> RecordBatch:
        extra = [LOCATOR] if self.rows and LOCATOR in self.rows[0] else []
        frame = pd.DataFrame(self.rows, columns=["row_number", *self.columns, *extra],
                             dtype=object)
        frame["row_number"] = frame["row_number"].astype("int64")
        batch = RecordBatch(frame=frame, issues=self.issues)
        self.rows, self.issues = [], []
        return batch

    def drain(self) -> Iterator[RecordBatch]:
        if self.rows or self.issues:
            yield self.cut()


def clip(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
