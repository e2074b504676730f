"""Demo health system generator: writes every reference feed, day by day, into a landing root.

For each extract date of the range it writes the 14 feeds in their landing file forms (with
control files) and, at the end, `truth.csv` listing every injected defect. The same options give
byte-identical files: every random draw comes from a `random.Random` stream named after the seed,
the stream's purpose, the facility and the day. Memory stays bounded by the open visits and the
current day (all rows are streamed to disk as they are made).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .charges import DAY, ChargeDesk
from .clinical import Clinic, DayOut
from .defects import DEFAULT_DEFECT_RATES, RULES, DefectBook, effective_rates
from .financial import Ledger
from .layout import FEEDS, TRUTH_COLUMNS, feed_path
from .masterdata import MasterData
from .model import FacilityState, Sequences
from .rand import stream
from .writers import CSV_EOL, DateText, FeedFile, csv_header, q

__all__ = ["DEFAULT_DEFECT_RATES", "RULES", "GenerationSummary", "GeneratorOptions", "generate"]


@dataclass(frozen=True)
class GeneratorOptions:
    """What to generate: range, facilities, volume, seed and defect rates."""

    start: dt.date
    days: int
    facilities: tuple[str, ...] = ("NORTH", "SOUTH", "CHILD")
    visits_per_day: int = 40  # new visits per facility per day
    seed: int = 7
    defect_scale: float = 1.0  # multiplies every default defect rate; 0.0 = defect-free data
    defect_rates: Mapping[str, float] | None = None  # per rule_id overrides (probability)

    @property
    def end(self) -> dt.date:
        """Last extract date of the range."""
        return self.start + (self.days - 1) * DAY


@dataclass
class GenerationSummary:
    """What a run wrote."""

    out_dir: Path
    files: int
    rows_by_feed: dict[str, int]
    defects_by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Records written over all feeds (CSV rows, NDJSON lines, HL7 messages)."""
        return sum(self.rows_by_feed.values())


class _DayFiles:
    """The 14 feed files of one extract date (per facility where the feed is per site)."""

    def __init__(self, root: Path, day: dt.date, facilities: list[str]) -> None:
        self.all: list[FeedFile] = []
        self.per_fac: dict[str, dict[str, FeedFile]] = {f: {} for f in facilities}
        self.shared: dict[str, FeedFile] = {}
        for feed, (_pattern, per_facility, columns) in FEEDS.items():
            header = csv_header(columns) if columns else None
            if per_facility:
                for fac in facilities:
                    f = FeedFile(root, feed_path(feed, day, fac), feed, header)
                    self.per_fac[fac][feed] = f
                    self.all.append(f)
            else:
                f = FeedFile(root, feed_path(feed, day), feed, header)
                self.shared[feed] = f
                self.all.append(f)

    def close(self, rows: dict[str, int]) -> int:
        """Close every file (writing control files) and add their record counts to `rows`."""
        for f in self.all:
            f.close()
            rows[f.feed] = rows.get(f.feed, 0) + f.rows
        return len(self.all)


def _validate(options: GeneratorOptions) -> None:
    if options.days < 1:
        raise ValueError("days must be >= 1")
    if options.visits_per_day < 1:
        raise ValueError("visits_per_day must be >= 1")
    if len(set(options.facilities)) != len(options.facilities):
        raise ValueError("facility codes must be unique")


def generate(out_dir: Path, options: GeneratorOptions) -> GenerationSummary:
    """Write the demo landing files for every day of the range, plus `truth.csv`."""
    _validate(options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start, end = options.start, options.end
    book = DefectBook(effective_rates(options.defect_scale, options.defect_rates), end)
    md = MasterData(tuple(options.facilities), options.seed, start, end, options.visits_per_day)
    seq = Sequences()
    desk = ChargeDesk(end)
    clinic = Clinic(md, seq, desk, book, options.visits_per_day)
    ledger = Ledger(md, seq, book, start)
    states = [FacilityState(fac) for fac in md.facilities]
    codes = [fac.code for fac in md.facilities]
    rows: dict[str, int] = {feed: 0 for feed in FEEDS}
    files = 0
    day_date = start
    while day_date <= end:
        files += _generate_day(out_dir, day_date, options.seed, md, clinic, ledger, book,
                               states, codes, rows)
        ledger.dates.forget_before(day_date - 60 * DAY)
        day_date += DAY
    _write_truth(out_dir / "truth.csv", book)
    return GenerationSummary(out_dir, files, rows, dict(book.counts))


def _generate_day(root: Path, d: dt.date, seed: int, md: MasterData, clinic: Clinic,
                  ledger: Ledger, book: DefectBook, states: list[FacilityState],
                  codes: list[str], rows: dict[str, int]) -> int:
    """Generate one extract date for every facility; returns the number of data files."""
    files = _DayFiles(root, d, codes)
    shared = files.shared
    for row in md.chargemaster_rows(d):
        shared["chargemaster"].add(row)
    for feed, static in (("department_map", md.department_map_rows),
                         ("cost_centers", md.cost_center_rows), ("item_master", md.item_rows)):
        for row in static:
            shared[feed].add(row)
    day = DateText(d)
    for fs in states:
        fac = fs.fac.code
        own = files.per_fac[fac]
        rng = stream(seed, "clinical", fac, d)
        dfx = stream(seed, "defects", fac, d)
        new = clinic.admit(fs, d, rng, dfx)
        fs.open.extend(new)
        clinic.write_adt(fs, day, new, own["adt"])
        out = DayOut(day, shared["procedures"], shared["med_administrations"],
                     own["cabinet_transactions"], own["case_supplies"],
                     shared["inventory_transactions"])
        for text in fs.pending_fhir.pop(d, ()):
            out.procedures.add(text)
        active = [v for v in fs.open if not (v.cancelled and v.defect is None)]
        target, dept = None, None
        if book.roll(dfx, "UNMAPPED_DEPARTMENT"):
            candidates = [v for v in active if v.free]
            if candidates:
                target = dfx.choice(candidates)
                pool = fs.fac.unmapped_pool
                n = fs.unmapped_used
                dept = pool[n] if n < len(pool) else f"UX{n:03d}"
                fs.unmapped_used += 1
        for v in active:
            clinic.visit_day(fs, v, out, rng, dfx, dept if v is target else None)
        for v in fs.discharged_yesterday:
            if v.outside_after_discharge:
                clinic.after_discharge(fs, v, out, rng, dfx)
        clinic.facility_extras(fs, out, rng)
        ledger.post_day(fs, day, own["charges"], dfx)
        if d - DAY >= ledger.start:
            ledger.timecards(fs, d - DAY, day, shared["timecards"],
                             stream(seed, "labor", fac, d - DAY))
        ledger.gl_day(fs, day, shared["gl_journal_lines"], out.issues, dfx)
        ledger.billing_rows(fs, day, shared["billing_accounts"])
        fs.discharged_yesterday = [v for v in fs.open if v.discharge_date == d and not v.cancelled]
        fs.open = [v for v in fs.open if v.discharge_date > d and not v.cancelled]
    return files.close(rows)


def _write_truth(path: Path, book: DefectBook) -> None:
    """truth.csv: one row per injected defect, sorted deterministically."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(csv_header(TRUTH_COLUMNS))
        for row in book.sorted_rows():
            fh.write(",".join(q(v) for v in row) + CSV_EOL)
