"""Landing-file writers: streamed data files with their `.ctl` control files, and encoders.

A `FeedFile` streams records to disk in chunks while hashing them, so a day of a million rows
never sits in memory; closing it writes the one-line JSON control file
(`{"file", "rows", "sha256"}`) that marks the data file complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

CSV_EOL = "\r\n"  # RFC 4180 record terminator
_FLUSH_EVERY = 4096

_HL7_SPECIAL = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\",
                              "~": "\\R\\"})


class FeedFile:
    """One landing data file: counts records, hashes bytes, and writes `<name>.ctl` on close."""

    __slots__ = ("feed", "path", "rows", "_buf", "_fh", "_hash")

    def __init__(self, root: Path, relative: str, feed: str, header: str | None = None) -> None:
        self.feed = feed
        self.path = root / relative
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows = 0
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._hash = hashlib.sha256()
        self._buf: list[str] = [header] if header is not None else []

    def add(self, record: str) -> None:
        """Append one record (already terminated: CSV row, NDJSON line or HL7 message)."""
        self._buf.append(record)
        self.rows += 1
        if len(self._buf) >= _FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            data = "".join(self._buf).encode("utf-8")
            self._hash.update(data)
            self._fh.write(data)
            self._buf.clear()

    def close(self) -> None:
        """Flush and close the data file, then write its control file."""
        self._flush()
        self._fh.close()
        control = {"file": self.path.name, "rows": self.rows, "sha256": self._hash.hexdigest()}
        ctl = self.path.with_name(self.path.name + ".ctl")
        ctl.write_text(json.dumps(control) + "\n", encoding="utf-8")


def csv_header(columns: tuple[str, ...]) -> str:
    """Header line of a CSV feed."""
    return ",".join(columns) + CSV_EOL


def q(text: str) -> str:
    """Quote one CSV field per RFC 4180 when it needs it."""
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    if "," in text or "\n" in text or "\r" in text:
        return '"' + text + '"'
    return text


def hl7_escape(text: str) -> str:
    """Escape the HL7 delimiters `|^~\\&` inside a text field (\\F\\ \\S\\ \\R\\ \\E\\ \\T\\)."""
    for ch in "\\|^~&":
        if ch in text:
            return text.translate(_HL7_SPECIAL)
    return text


def money(amount: Decimal) -> str:
    """Amount as a decimal string with exactly 2 decimals."""
    return f"{amount:.2f}"


class DateText:
    """Cached text forms of one date (ISO, compact) and of its minutes (timestamps)."""

    __slots__ = ("date", "iso", "compact", "_ts", "_hl7")

    def __init__(self, date: dt.date) -> None:
        self.date = date
        self.iso = date.isoformat()
        self.compact = date.strftime("%Y%m%d")
        self._ts: dict[int, str] = {}
        self._hl7: dict[int, str] = {}

    def ts(self, minute: int) -> str:
        """ISO timestamp `YYYY-MM-DDTHH:MM:00` of a minute of this day."""
        text = self._ts.get(minute)
        if text is None:
            text = f"{self.iso}T{minute // 60:02d}:{minute % 60:02d}:00"
            self._ts[minute] = text
        return text

    def hl7(self, minute: int) -> str:
        """HL7 DTM `YYYYMMDDHHMM` of a minute of this day."""
        text = self._hl7.get(minute)
        if text is None:
            text = f"{self.compact}{minute // 60:02d}{minute % 60:02d}"
            self._hl7[minute] = text
        return text


class DateCache:
    """`DateText` per date, created on first use."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[dt.date, DateText] = {}

    def __getitem__(self, date: dt.date) -> DateText:
        item = self._items.get(date)
        if item is None:
            item = DateText(date)
            self._items[date] = item
        return item

    def forget_before(self, date: dt.date) -> None:
        """Drop cached dates older than `date` (bounded memory on long ranges)."""
        for key in [d for d in self._items if d < date]:
            del self._items[key]
