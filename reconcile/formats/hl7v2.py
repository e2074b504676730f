"""HL7 v2 reader for ADT and DFT^P03 files: streaming, any segment separator, batch envelopes.

We split fields ourselves (encoding characters from MSH-1/MSH-2, repetitions, components,
escape sequences) rather than use the `hl7` package: measured here, `hl7.parse` handles about
2,000 messages/s, far below the 50,000 FT1 segments/s target (bench/hl7_parser.py compares the
two, and the tests cross-check our fields against `hl7.parse`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import IO, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reconcile.formats.records import (
    LOCATOR,
    BatchBuilder,
    FileRejected,
    NestedBatchBuilder,
    RecordBatch,
    RowIssue,
    Span,
    clip,
    null_if_empty,
    open_text,
)

T = TypeVar("T")
ENVELOPE = ("FHS", "BHS", "BTS", "FTS")
_HEX_ESCAPE = re.compile(r"^X([0-9A-Fa-f]{2})+$")
_DTM = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d+)?)?)?)?([+-]\d{4})?")
_DT = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2,6}(\.\d+)?)?([+-]\d{4})?")


@cache
def _picker(numbers: tuple[int, ...]) -> Callable[[list[str]], tuple[str, ...]]:
    """The fields `numbers` (ascending, at least two) of a split segment, as a tuple."""
    return operator.itemgetter(*numbers)


@cache
def _special_search(chars: str) -> Callable[[str], re.Match[str] | None]:
    """Finds any of the encoding characters `chars` in a field (a plain value has none)."""
    return re.compile("[" + re.escape(chars) + "]").search


@dataclass(frozen=True)
class Encoding:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


@lru_cache(maxsize=64)
def _encoding(chars: str) -> tuple[Encoding, Callable[[str], re.Match[str] | None],
                                   Callable[[str], re.Match[str] | None]]:
    """MSH-1 and MSH-2 (`chars`, five characters): the encoding, a search for any encoding
    character but the field separator, and one for those but the component separator."""
    enc = Encoding(chars[0], chars[1], chars[2], chars[3], chars[4])
    return (enc, _special_search(enc.component + enc.repetition + enc.escape + enc.subcomponent),
            _special_search(enc.repetition + enc.escape + enc.subcomponent))


class Message:
    """One HL7 v2 message: segments by id, with HL7-numbered field access."""

    def __init__(self, number: int, segments: list[str]) -> None:
        self.number = number
        header = segments[0]
        if not header.startswith("MSH") or len(header) < 8:
            raise ValueError("message does not start with an MSH segment")
        sep = header[3]
        self.enc, self._special, self._not_component = _encoding(header[3:8])
        self.standard = header[3:8] == "|^~\\&"
        self.segments: list[tuple[str, list[str]]] = []
        for text in segments:
            fields = text.split(sep)
            seg_id = fields[0]
            if seg_id == "MSH":
                fields = ["MSH", sep, *fields[1:]]  # so that fields[n] is MSH-n
            self.segments.append((seg_id, fields))

    def first(self, seg_id: str) -> list[str] | None:
        for sid, fields in self.segments:
            if sid == seg_id:
                return fields
        return None

    def all(self, seg_id: str) -> list[list[str]]:
        return [fields for sid, fields in self.segments if sid == seg_id]

    def value(self, fields: list[str] | None, number: int, component: int = 1,
              repetition: int = 1) -> str | None:
        """Field `number`, repetition and component (1-based), unescaped; None when empty."""
        if fields is None or number >= len(fields):
            return None
        raw = fields[number]
        if not raw:
            return None
        if fields[0] == "MSH" and number <= 2:
            return raw
        enc = self.enc
        if (repetition == 1 and enc.repetition not in raw and enc.component not in raw
                and enc.subcomponent not in raw and enc.escape not in raw):
            return raw if component == 1 else None  # the common case: a plain value
        reps = raw.split(self.enc.repetition)
        if repetition > len(reps):
            return None
        comps = reps[repetition - 1].split(self.enc.component)
        if component > len(comps):
            return None
        text = comps[component - 1].split(self.enc.subcomponent)[0]
        return self.unescape(text) or None

    def values(self, fields: list[str], spec: tuple[tuple[int, int], ...]) -> list[str | None]:
        """`value(fields, number, component)` for each (number, component) of `spec`, at once."""
        special, not_component, separator = self._special, self._not_component, self.enc.component
        count = len(fields)
        out: list[str | None] = []
        for number, component in spec:
            raw = fields[number] if number < count else ""
            if not raw:
                out.append(None)
            elif special(raw) is None:
                out.append(raw if component == 1 else None)  # the common case: a plain value
            elif not_component(raw) is None:  # components only: no repetition, escape or &
                parts = raw.split(separator)
                out.append((parts[component - 1] or None) if component <= len(parts) else None)
            else:
                out.append(self.value(fields, number, component))
        return out

    def plain_values(self, fields: list[str], numbers: tuple[int, ...]) -> list[str | None]:
        """`value(fields, number)` for each of `numbers`; one search when none holds an encoding
        character (the common case), else field by field."""
        last = numbers[-1]
        padded = fields if len(fields) > last else fields + [""] * (last + 1 - len(fields))
        raws = _picker(numbers)(padded)
        if self._special("".join(raws)) is None:
            return [raw or None for raw in raws]
        return self.values(fields, tuple((number, 1) for number in numbers))

    def repetitions(self, fields: list[str] | None, number: int) -> list[str]:
        """Every repetition's first component of a field, unescaped."""
        if fields is None or number >= len(fields) or not fields[number]:
            return []
        out = []
        for rep in fields[number].split(self.enc.repetition):
            first = self.unescape(rep.split(self.enc.component)[0])
            if first:
                out.append(first)
        return out

    def unescape(self, text: str) -> str:
        esc = self.enc.escape
        if esc not in text:
            return text
        parts = text.split(esc)
        out = [parts[0]]
        # parts alternate: text, escape body, text, escape body, ...
        for i in range(1, len(parts), 2):
            body = parts[i]
            tail = parts[i + 1] if i + 1 < len(parts) else None
            out.append(self._escape_value(body) if tail is not None else esc + body)
            if tail is not None:
                out.append(tail)
        return "".join(out)

    def _escape_value(self, body: str) -> str:
        e = self.enc
        table = {"F": e.field, "S": e.component, "T": e.subcomponent, "R": e.repetition,
                 "E": e.escape, ".br": "\n"}
        if body in table:
            return table[body]
        if _HEX_ESCAPE.match(body):
            return bytes.fromhex(body[1:]).decode("latin-1")
        return e.escape + body + e.escape


# Segments that open a message's body: seeing one again means a new message began without MSH.
_ONCE_PER_MESSAGE = ("EVN", "PID", "PV1")
# Segment ids that do more than join the current message
_MARKERS = frozenset(("MSH", *_ONCE_PER_MESSAGE, *ENVELOPE))


def _segments(handle: IO[str], chunk_chars: int = 1 << 20) -> Iterator[str]:
    """The lines of a text file opened with universal newlines, without their "\n", read a
    chunk at a time (cheaper than line by line); a last line without "\n" is one too."""
    rest = ""
    while chunk := handle.read(chunk_chars):
        lines = (rest + chunk).split("\n") if rest else chunk.split("\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def iter_messages(path: Path, span: Span | None = None
                  ) -> Iterator[tuple[int, list[str]] | RowIssue]:
    """Yield (message number, segment strings) per message, or a RowIssue for a message that
    has no MSH (it still counts as a record, as the sender's control total counts it).

    Segments may be separated by CR, LF or CRLF; a new message starts at each MSH segment, and a
    headless message is recognised when EVN, PID or PV1 appears again (or before any MSH).
    With a `span` (which starts at an MSH segment or at the file's start), only its bytes are
    read, numbered from 1; the count of numbers used is left in `span.records`. Every MSH
    segment ends what came before it, so a span's messages are exactly the file's.
    """
    number = 0
    current: list[str] | None = None
    headless: list[str] | None = None
    seen: set[str] = set()

    def headless_issue() -> RowIssue:
        return RowIssue(number, "hl7_structure", "MSH", clip("\r".join(headless or [])),
                        "message with no MSH segment (its segments are quarantined whole)")

    try:
        with open_text(path, span, newline=None) as handle:
            for segment in _segments(handle):
                seg_id = segment[:3]
                if current is not None and seg_id not in _MARKERS:  # the common case: FT1, ...
                    if segment and not (segment[:1].isspace() and not segment.strip()):
                        current.append(segment)  # (only _ONCE_PER_MESSAGE ids need `seen`)
                    continue
                if not segment or (segment[:1].isspace() and not segment.strip()):
                    continue  # blank (a segment that starts with a letter is never blank)
                if seg_id in ENVELOPE:
                    continue
                if seg_id == "MSH":
                    if current is not None:
                        yield number, current
                    if headless is not None:
                        yield headless_issue()
                    number += 1
                    current, headless, seen = [segment], None, set()
                    continue
                starts_again = seg_id in _ONCE_PER_MESSAGE and seg_id in seen
                if current is not None and not starts_again:
                    current.append(segment)
                    seen.add(seg_id)
                    continue
                if current is not None:  # a second PID (say) after a complete message
                    yield number, current
                    current = None
                if headless is None or starts_again:
                    if headless is not None:
                        yield headless_issue()
                    number += 1
                    headless, seen = [], set()
                headless.append(segment)
                seen.add(seg_id)
    except UnicodeDecodeError as exc:
        raise FileRejected(f"file is not valid UTF-8 (byte {exc.start}): wrong encoding") from exc
    if current is not None:
        yield number, current
    if headless is not None:
        yield headless_issue()
    if span is not None:
        span.records = number


def hl7_timestamp(value: str | None) -> str | None:
    """HL7 DTM (YYYYMMDD[HHMM[SS]][+ZZZZ]) to ISO 8601 local time; the raw text when malformed."""
    if value is None:
        return None
    m = _DTM.fullmatch(value)
    if not m:
        return value
    y, mo, d, hh, mm, ss, _ = m.groups()
    return f"{y}-{mo}-{d}T{hh or '00'}:{mm or '00'}:{ss or '00'}"


@lru_cache(maxsize=4096)  # a file's dates repeat
def hl7_date(value: str | None) -> str | None:
    """HL7 DT (YYYYMMDD, or a DTM whose date part is taken) to YYYY-MM-DD; raw text if malformed."""
    if value is None:
        return None
    if len(value) == 8 and value.isascii() and value.isdigit():  # the common case: YYYYMMDD
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    m = _DT.fullmatch(value)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else value


ADT_COLUMNS = [
    "message_control_id", "message_type", "event_type", "message_at", "event_at", "mrn",
    "account_number", "patient_class", "location_unit", "facility", "hospital_service",
    "visit_number", "admit_at", "discharge_at",
]

CHARGE_COLUMNS = [
    "message_control_id", "message_type", "facility", "visit_number", "mrn", "account_number",
    "ft1_set_id", "transaction_id", "service_date", "post_date", "txn_type", "cdm_code", "cdm_description",
    "quantity", "extended_amount", "unit_amount", "department_code", "performing_npi",
    "ordering_npi", "order_number", "cpt_hcpcs", "modifiers", "ndc",
]


def _messages(path: Path, builder: BatchBuilder | NestedBatchBuilder,
              span: Span | None = None) -> Iterator[Message]:
    """The file's parseable messages; what cannot be parsed goes to the builder as a RowIssue."""
    yield from _parsed(path, builder, span, Message)


def _headers(path: Path, builder: BatchBuilder | NestedBatchBuilder, span: Span | None
             ) -> Iterator[tuple[Message, list[str]]]:
    """As `_messages`, but each Message holds its MSH segment only, beside the segments after it
    (for a reader that splits those itself)."""
    yield from _parsed(path, builder, span,
                       lambda number, segments: (Message(number, segments[:1]), segments[1:]))


def _parsed(path: Path, builder: BatchBuilder | NestedBatchBuilder, span: Span | None,
            make: Callable[[int, list[str]], T]) -> Iterator[T]:
    """`make(number, segments)` of each message of the file; an unreadable message, or one whose
    MSH `make` refuses (ValueError), goes to the builder as a RowIssue."""
    for item in iter_messages(path, span):
        if isinstance(item, RowIssue):
            builder.reject(item)
            continue
        number, segments = item
        try:
            yield make(number, segments)
        except ValueError as exc:
            builder.reject(RowIssue(number, "hl7_structure", "MSH", clip(segments[0]), str(exc)))


def read_adt(path: Path, span: Span | None = None) -> Iterator[RecordBatch]:
    """One row per ADT message (MSH, EVN, PID, PV1)."""
    builder = BatchBuilder(ADT_COLUMNS)
    for msg in _messages(path, builder, span):
        number = msg.number
        msh, evn, pid, pv1 = msg.first("MSH"), msg.first("EVN"), msg.first("PID"), msg.first("PV1")
        missing = [s for s, f in (("PID", pid), ("PV1", pv1)) if f is None]
        if missing:
            builder.reject(RowIssue(number, "hl7_structure", missing[0], None,
                                    f"ADT message lacks its {missing[0]} segment"))
            continue
        kind, trigger = msg.value(msh, 9, 1), msg.value(msh, 9, 2)
        builder.add({
            "row_number": number,
            "message_control_id": msg.value(msh, 10),
            "message_type": f"{kind}^{trigger}" if kind and trigger else kind,
            "event_type": trigger or msg.value(evn, 1),
            "message_at": hl7_timestamp(msg.value(msh, 7)),
            "event_at": hl7_timestamp(msg.value(evn, 2)),
            "mrn": msg.value(pid, 3, 1, 1),
            "account_number": msg.value(pid, 18),
            "patient_class": msg.value(pv1, 2),
            "location_unit": msg.value(pv1, 3, 1),
            "facility": msg.value(pv1, 3, 4),
            "hospital_service": msg.value(pv1, 10),
            "visit_number": msg.value(pv1, 19),
            "admit_at": hl7_timestamp(msg.value(pv1, 44)),
            "discharge_at": hl7_timestamp(msg.value(pv1, 45)),
        })
        if builder.full():
            yield builder.cut()
    yield from builder.drain()


# FT1 fields read as plain values for a charge row, in CHARGE_COLUMNS order (FT1-7, the CDM code
# and description, and FT1-26, the modifiers, are read apart)
_FT1_PLAIN = (1, 2, 4, 5, 6, 10, 11, 12, 13, 20, 21, 23, 25, 29)
_FT1_CDM = ((7, 1), (7, 2))
# every FT1 field of a charge row, in CHARGE_COLUMNS order: the fast path reads them at once
_FT1_FIELDS = (1, 2, 4, 5, 6, 7, 10, 11, 12, 13, 20, 21, 23, 25, 26, 29)
_FT1_PICK = operator.itemgetter(*_FT1_FIELDS)
_FT1_WIDTH = _FT1_FIELDS[-1] + 1
_FT1_PAD = [[""] * (_FT1_WIDTH - n) for n in range(_FT1_WIDTH + 1)]
_MSH_SPEC = ((9, 1), (9, 2), (10, 1))  # message type, trigger event, control id
_PID_SPEC = ((3, 1), (18, 1))  # MRN (first repetition), account number
_PV1_SPEC = ((3, 4), (19, 1))  # facility, visit number


@lru_cache(maxsize=256)
def _ft1_locator(index: int) -> str:
    """Where a charge row sits in its message (index from 0): "FT1 #1", "FT1 #2", ..."""
    return f"FT1 #{index + 1}"


_STANDARD = "|^~\\&"  # MSH-1 and MSH-2 of nearly every message
_SLOW_FT1 = r"[~\\&]"  # a repetition, escape or subcomponent somewhere in the segment


class _ChargeBuilder(NestedBatchBuilder):
    """Charge rows of a batch: the FT1 segment texts of messages in the standard encoding, read
    column by column with Arrow's string kernels when the batch is cut, and rows already read
    in Python (other encodings), kept apart by row index.

    A segment Arrow cannot read exactly as `_ft1_row` does (a repetition, escape or subcomponent
    anywhere in it, a component outside FT1-7, a date that is not YYYYMMDD) is read by
    `_ft1_row` at the cut; "" is null in every column, as no value read here is ever ""."""

    def __init__(self) -> None:
        super().__init__(CHARGE_COLUMNS[:6], [*CHARGE_COLUMNS[6:], LOCATOR], empty_is_null=True)
        self.positions: list[int] = []
        self.read: dict[int, tuple[str | None, ...]] = {}

    def add_segments(self, texts: list[str]) -> None:
        """The FT1 segments (standard encoding) of the parent added last."""
        self.rows.extend(texts)  # type: ignore[arg-type]
        self.positions.extend(range(len(texts)))
        self.parent_of_row.extend([len(self.parents) - 1] * len(texts))

    def add_read(self, rows: list[tuple[str | None, ...]]) -> None:
        """Rows already read (other encodings) of the parent added last."""
        for row in rows:
            self.read[len(self.rows)] = row
            self.rows.append("")  # type: ignore[arg-type]
            self.positions.append(0)
            self.parent_of_row.append(len(self.parents) - 1)

    def row_arrays(self) -> list[pa.Array]:
        texts = self.rows
        arrays = _ft1_arrays(texts, self.positions)  # type: ignore[arg-type]
        read = self.read
        if len(texts):
            inexact, segments = arrays.pop(), arrays.pop()
            slow = pc.or_(pc.match_substring_regex(segments, _SLOW_FT1), inexact)
            for index in np.flatnonzero(slow.to_numpy(zero_copy_only=False)).tolist():
                if index not in read:
                    read[index] = _ft1_row(_STANDARD_MESSAGE, texts[index].split("|"),
                                           self.positions[index])
        else:
            arrays = arrays[:-2]
        if read:
            indices = sorted(read)
            mask = np.zeros(len(texts), dtype=bool)
            mask[indices] = True
            chosen = pa.array(mask)
            columns = list(zip(*(read[i] for i in indices), strict=True))
            arrays = [pc.replace_with_mask(array, chosen, pa.array(values, type=pa.string()))
                      for array, values in zip(arrays, columns, strict=True)]
        self.positions, self.read = [], {}
        return [null_if_empty(a) for a in arrays]


_EMPTY = pa.array([], type=pa.string())


def _ft1_arrays(texts: list[str], positions: list[int]) -> list[pa.Array]:
    """The charge columns of FT1 segment texts (standard encoding), then the segments and
    where Arrow's reading is not exact (a component outside FT1-7, a date not YYYYMMDD)."""
    if not texts:
        return [_EMPTY] * (len(CHARGE_COLUMNS) - 6 + 1 + 2)
    segments = pa.array(texts, type=pa.string())
    padded = pc.binary_join_element_wise(segments, "|" * _FT1_WIDTH, "")
    parts = pc.split_pattern(padded, "|")
    field = {n: pc.list_element(parts, n) for n in _FT1_FIELDS}
    cdm_field = field[7]
    inexact = pc.not_equal(pc.count_substring(segments, "^"), pc.count_substring(cdm_field, "^"))
    dates = []
    for n in (4, 5):
        value = field[n]
        yyyymmdd = pc.match_substring_regex(value, r"^[0-9]{8}$")
        inexact = pc.or_(inexact, pc.and_(pc.invert(yyyymmdd), pc.not_equal(value, "")))
        iso = pc.binary_join_element_wise(pc.utf8_slice_codeunits(value, 0, 4),
                                          pc.utf8_slice_codeunits(value, 4, 6),
                                          pc.utf8_slice_codeunits(value, 6, 8), "-")
        dates.append(pc.if_else(yyyymmdd, iso, value))
    cdm = pc.split_pattern(pc.binary_join_element_wise(cdm_field, "^", ""), "^")
    locators = pa.array([_ft1_locator(i) for i in range(max(positions) + 1)], type=pa.string())
    return [field[1], field[2], *dates, field[6], pc.list_element(cdm, 0), pc.list_element(cdm, 1),
            *(field[n] for n in (10, 11, 12, 13, 20, 21, 23, 25, 26, 29)),
            locators.take(pa.array(positions, type=pa.int32())), segments, inexact]


def _ft1_row(msg: Message, ft1: list[str], position: int) -> tuple[str | None, ...]:
    """A charge row's FT1 values (CHARGE_COLUMNS from ft1_set_id, then the locator)."""
    t = _FT1_PICK(ft1 if len(ft1) >= _FT1_WIDTH else ft1 + _FT1_PAD[len(ft1)])
    joined = "".join(t)
    if msg._special(joined) is None:  # plain values only
        return (t[0], t[1], hl7_date(t[2]), hl7_date(t[3]), t[4], t[5], None, *t[6:],
                _ft1_locator(position))
    component = msg.enc.component
    if msg._not_component(joined) is None and joined.count(component) == t[5].count(component):
        cdm = t[5].split(component)  # components in FT1-7 only
        return (t[0], t[1], hl7_date(t[2]), hl7_date(t[3]), t[4], cdm[0], cdm[1], *t[6:],
                _ft1_locator(position))
    v = msg.plain_values(ft1, _FT1_PLAIN)
    cdm_code, cdm_description = msg.values(ft1, _FT1_CDM)
    return (v[0], v[1], hl7_date(v[2]), hl7_date(v[3]), v[4], cdm_code, cdm_description,
            *v[5:13], "~".join(msg.repetitions(ft1, 26)) or None, v[13], _ft1_locator(position))


def read_charges(path: Path, span: Span | None = None) -> Iterator[RecordBatch]:
    """One row per FT1 segment of DFT^P03 messages, carrying the message's visit and patient.

    The FT1 segments of a message in the standard encoding are read in Arrow when the batch is
    cut (_ChargeBuilder); those of other encodings here, by `_ft1_row`."""
    builder = _ChargeBuilder()
    for msg, segments in _headers(path, builder, span):
        number = msg.number
        msh = msg.segments[0][1]
        sep = msg.enc.field
        pid = pv1 = None
        ft1s = []
        for text in segments:  # as Message.first("PID"), first("PV1") and all("FT1")
            if text.startswith("FT1") and text[3:4] in ("", sep):
                ft1s.append(text)
                continue
            fields = text.split(sep)
            seg_id = fields[0]
            if seg_id == "PID":
                pid = fields if pid is None else pid
            elif seg_id == "PV1":
                pv1 = fields if pv1 is None else pv1
        if pv1 is None or not ft1s:
            what = "PV1" if pv1 is None else "FT1"
            builder.reject(RowIssue(number, "hl7_structure", what, None,
                                    f"DFT message lacks its {what} segment"))
            continue
        kind, trigger, control_id = msg.values(msh, _MSH_SPEC)
        facility, visit = msg.values(pv1, _PV1_SPEC)
        mrn, account = msg.values(pid, _PID_SPEC) if pid is not None else (None, None)
        builder.add_parent((
            number, control_id, f"{kind}^{trigger}" if kind and trigger else kind,  # message_type
            facility, visit, mrn, account,
        ))
        if msg.standard:
            builder.add_segments(ft1s)
        else:
            builder.add_read([_ft1_row(msg, text.split(sep), i) for i, text in enumerate(ft1s)])
        if builder.full():
            yield builder.cut()
    yield from builder.drain()


_STANDARD_MESSAGE = Message(0, ["MSH" + _STANDARD])  # the encoding of `_ft1_row` for Arrow's misses
