"""Seeds, hypothesis strategies and the accounting check of the parser fuzz tests.

Seeds are real files of the demo generator; the strategies keep or mutate their records, and
`load_and_account` puts the result through the real entry point (reconcile.staging.
load_landed_file: reader, site mapping, pandera validation, DuckDB insert) and reports where
every record went.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import strategies as st

from reconcile.feeds import FEEDS
from reconcile.landing import ControlFile, LandedFile
from reconcile.readers import READERS
from reconcile.staging import load_landed_file

DAY = dt.date(2026, 10, 1)
HL7_FEEDS = ("adt", "charges")
JSON_FEEDS = ("procedures", "med_administrations", "gl_journal_lines", "timecards")
CSV_FEEDS = ("case_supplies", "item_master", "chargemaster", "department_map",
             "cabinet_transactions", "inventory_transactions", "cost_centers", "billing_accounts")
PARSE_TIMEOUT_S = 10.0  # "never hangs": one example (parse + validate + load) must finish by then

# Values that have broken parsers and casts elsewhere: quotes, separators, huge and odd numbers,
# impossible dates and times, control characters, long text.
NASTY = ["", " ", '"', '""', ",", ";", "\t", "\\", "|", "^", "~", "&", "\\X41\\", "\\F\\", "\\",
         "\x00", "\x1b", "\ufeff", "\u2028", "é", "𝄞", "NaN", "inf", "-0", "1e308", "-1e-320",
         "99999999999999999999999999.99", "0.005", "12.3456789", "2026-02-30", "2026-13-01",
         "0000-01-01", "9999-12-31T23:59:59", "2026-10-01T25:61:00", "2026-10-01T10:00:00+99:99",
         "20261001", "2026100125", "x" * 300, "true", "null", "[]", "{}"]

cell_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
hl7_text = st.one_of(st.sampled_from([v for v in NASTY if "\r" not in v and "\n" not in v]),
                     st.text(st.characters(blacklist_characters="\r\n",
                                           blacklist_categories=("Cs",)), max_size=40))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                         st.floats(allow_nan=True, allow_infinity=True), cell_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


@dataclass(frozen=True)
class Accounting:
    """Where the records of one loaded file went."""

    outcome: str
    reason: str | None
    staged: frozenset[int]  # row numbers with a row in the feed's staging table
    quarantined: frozenset[int]  # row numbers in staging.rejected_rows
    reasons_missing: int  # quarantined rows without a reason


@contextlib.contextmanager
def time_limit(seconds: float = PARSE_TIMEOUT_S) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging when the block runs longer than `seconds`."""
    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"parsing did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_names = itertools.count(1)


def load_and_account(con: duckdb.DuckDBPyConnection, folder: Path, feed_name: str, data: bytes,
                     rows_declared: int) -> Accounting:
    """Land `data` as a new file of `feed_name` whose control file declares `rows_declared`
    records, load it, and account for its records."""
    feed = FEEDS[feed_name]
    n = next(_names)
    # the file name keeps the feed's stamp (FHIR resolves Encounter files by it); the folder is new
    base = Path(feed.pattern_text).name.replace("<facility>", "NORTH").replace(
        "<YYYYMMDD>", DAY.strftime("%Y%m%d"))
    path = folder / f"case{n}" / base
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    landed = LandedFile(
        feed=feed, relative_path=f"fuzz/case{n}/{base}", path=path, extract_date=DAY,
        facility="NORTH" if feed.per_facility else None, size_bytes=len(data), sha256=sha,
        control=ControlFile(file=base, rows=rows_declared, sha256=sha),
        control_sha256=hashlib.sha256(f"{rows_declared}".encode()).hexdigest())
    with time_limit():
        result = load_landed_file(con, landed, run_id="fuzz")
    name = {"file_name": landed.relative_path}
    staged = {r[0] for r in con.execute(
        f"SELECT row_number FROM staging.{feed.staging_table} WHERE file_name = $file_name",
        name).fetchall()}
    rejected = con.execute("SELECT row_number, reason FROM staging.rejected_rows "
                           "WHERE file_name = $file_name", name).fetchall()
    return Accounting(result.outcome, result.reason, frozenset(staged),
                      frozenset(r[0] for r in rejected),
                      sum(1 for _, reason in rejected if not (reason or "").strip()))


def reader_records(feed_name: str, path: Path) -> set[int] | None:
    """The record numbers the feed's reader reports for a file (rows and issues), or None when
    it rejects the whole file."""
    from reconcile.formats.csvfile import HeaderReport
    from reconcile.formats.records import FileRejected

    numbers: set[int] = set()
    try:
        with time_limit():
            for batch in READERS[feed_name](path, HeaderReport(), None):
                numbers.update(int(n) for n in batch.frame["row_number"].tolist())
                numbers.update(i.row_number for i in batch.issues)
    except FileRejected:
        return None
    return numbers


# --- seeds ------------------------------------------------------------------------------------

def seed_texts(landing: Path) -> dict[str, str]:
    """One demo file's text per feed (the first day's, all facilities' files concatenated)."""
    from reconcile.landing import discover

    texts: dict[str, list[str]] = {}
    for day in (DAY, DAY + dt.timedelta(days=1)):
        for landed in discover(landing, day):
            texts.setdefault(landed.feed.name, []).append(
                landed.path.read_text(encoding="utf-8-sig"))
    return {feed: "".join(t if feed not in CSV_FEEDS or i == 0 else t.split("\n", 1)[1]
                          for i, t in enumerate(parts)) for feed, parts in texts.items()}


def csv_seed(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [r for r in rows[1:] if r]


def hl7_seed(text: str) -> list[list[str]]:
    """Messages as lists of segments."""
    messages: list[list[str]] = []
    for segment in text.replace("\r\n", "\r").replace("\n", "\r").split("\r"):
        if not segment:
            continue
        if segment.startswith("MSH"):
            messages.append([])
        if messages:
            messages[-1].append(segment)
    return messages


def json_seed(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- record-preserving mutations (the number of records stays known) --------------------------

@st.composite
def csv_file(draw: st.DrawFn, header: list[str], rows: list[list[str]]) -> tuple[bytes, set[int]]:
    """A CSV file of 0-8 seed rows, some cells replaced, dropped or added; its record numbers
    (records counted from 1 after the header)."""
    chosen = [list(r) for r in draw(st.lists(st.sampled_from(rows), max_size=8))]
    for row in chosen:
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["cell", "cell", "drop", "add"]))
            i = draw(st.integers(0, max(len(row) - 1, 0)))
            if kind == "cell":
                row[i] = draw(cell_text)
            elif kind == "drop" and len(row) > 1:
                del row[i]
            else:
                row.insert(i, draw(cell_text))
    newline = draw(st.sampled_from(["\r\n", "\n"]))
    text = "".join(_csv_line(row) + newline for row in [header, *chosen])
    if chosen and draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final newline
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode("utf-8"), set(range(1, len(chosen) + 1))


def _csv_line(row: list[str]) -> str:
    """One RFC 4180 record: a field holding a comma, quote, CR or LF is quoted."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(row)
    return out.getvalue()[:-2]


@st.composite
def hl7_file(draw: st.DrawFn, messages: list[list[str]], repeatable: str
             ) -> tuple[bytes, set[int]]:
    """0-6 seed messages with fields replaced, segments dropped or truncated and `repeatable`
    segments (FT1) repeated, any segment separator, with or without a batch envelope; its record
    numbers (messages counted from 1)."""
    chosen = [list(m) for m in draw(st.lists(st.sampled_from(messages), max_size=6))]
    for message in chosen:
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["field", "field", "drop", "truncate", "repeat"]))
            i = draw(st.integers(0, len(message) - 1))
            segment = message[i]
            if kind == "field":
                fields = segment.split("|")
                j = draw(st.integers(1, max(len(fields), 1)))
                fields += [""] * (j + 1 - len(fields))
                fields[j] = draw(hl7_text)
                message[i] = "|".join(fields)
            elif kind == "drop" and i > 0:
                del message[i]
            elif kind == "truncate" and i > 0:
                message[i] = segment[: draw(st.integers(0, len(segment)))]
            elif kind == "repeat" and segment.startswith(repeatable):
                message.insert(i, segment)
    sep = draw(st.sampled_from(["\r", "\n", "\r\n"]))
    segments = [s for m in chosen for s in m]
    if draw(st.booleans()):
        segments = ["FHS|^~\\&|EHR", "BHS|^~\\&|EHR", *segments, f"BTS|{len(chosen)}", "FTS|1"]
    text = sep.join(segments) + (sep if draw(st.booleans()) else "")
    return text.encode("utf-8"), set(range(1, len(chosen) + 1))


@st.composite
def ndjson_file(draw: st.DrawFn, items: list[dict[str, Any]]) -> tuple[bytes, set[int]]:
    """0-8 seed items with values replaced or removed at any depth, some replaced whole by other
    JSON or by broken text, blank lines between; its record numbers (the line numbers of the
    non-blank lines: an NDJSON record is numbered by its line)."""
    lines: list[str] = []
    for item in draw(st.lists(st.sampled_from(items), max_size=8)):
        kind = draw(st.sampled_from(["keep", "mutate", "mutate", "mutate", "other", "broken"]))
        if kind == "other":
            lines.append(json.dumps(draw(json_values)))
            continue
        item = json.loads(json.dumps(item))
        if kind == "mutate":
            for _ in range(draw(st.integers(1, 3))):
                _mutate_json(draw, item)
        text = json.dumps(item, ensure_ascii=draw(st.booleans()))
        if kind == "broken":
            text = text[: draw(st.integers(1, len(text) - 1))]
        lines.append(text)
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", "   ", "\t"])))
    numbers = {i for i, line in enumerate(lines, start=1) if line.strip()}
    return "\n".join(lines).encode("utf-8"), numbers


def _mutate_json(draw: st.DrawFn, node: Any) -> None:
    """Replace or delete one value somewhere inside `node` (a dict or list)."""
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.integers(0, 3)) == 0:
            del node[key]
        else:
            node[key] = draw(json_values)
        return


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with 1-4 random byte edits: insert, delete, overwrite, duplicate or truncate."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "overwrite", "duplicate", "truncate"]))
        i = draw(st.integers(0, len(out)))
        if kind == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del out[i:i + draw(st.integers(1, 16))]
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=4))
            out[i:i + len(chunk)] = chunk
        elif kind == "duplicate":
            out[i:i] = out[i:i + draw(st.integers(1, 200))]
        else:
            del out[i:]
    return bytes(out)
