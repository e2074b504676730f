"""Defect injection for the demo health system, and the truth table of what was injected.

Every rule of the reconciliation catalogue gets defects at a small rate per *eligible record*
(the unit is named per rule below; `defect_scale` multiplies the defaults, `defect_rates`
overrides single rules). Defects are drawn from their own random streams, so the clean part of
the data does not depend on the rates. Rules of design:

- one business key never carries two defects, and a visit carries at most one defect (visits
  with a cancel or an A13 carry none);
- a defect never makes another rule fire: whatever a source system would have seen is applied
  consistently to every feed (a duplicate charge is in the DFT, the account total and the GL
  batch; a charge whose code or department cannot map is in the account total but not in the GL
  batch; a missing charge is absent everywhere);
- a defect is only injected when the rule can report it within the generated range, so every
  truth row has `detectable_from` <= the last generated day.

`detectable_from` is the first as-of (nightly run) date on which the rule as specified reports
the defect, given the extract dates of the files (thresholds: charge_window_days = 3,
late_charge_days = 3, dnfb_alert_days = 7). S = service date, P = posting date (= extract date
of the DFT file carrying the line).

Per rule: the eligible record (what the rate applies to), how the defect is injected, and how
`detectable_from` is computed.

MISSING_CHARGE (expected-charge key): every charge line of the key is dropped, from the DFT, the
    account total and the GL batch alike. Detectable S + charge_window_days + 1 = S + 4.
CHARGE_QTY_MISMATCH (expected-charge key): the key's one CG line carries the documented quantity
    + 1 (or - 1 when it is >= 2); extended = qty x price. Detectable P (no window: both sides
    are present as soon as the line lands, documentation always lands on S <= P).
UNDOCUMENTED_CHARGE (in-house visit day): an extra CG, qty 1, of an active lab/imaging code with
    a mapped department, dated inside the stay, on a key with no documentation; billing and GL
    include it. Detectable P.
DUPLICATE_CHARGE (expected-charge key): the clean CG is posted again with a new transaction id
    and identical visit, code, date, quantity, amounts, modifiers and performer, on the same or a
    later day but within the normal lag (never late); billing and GL include both. Detectable P
    of the second line.
LATE_CHARGE (expected-charge key): the key's only CG posts 4-6 days after service (inside the
    range); ~30% deliberately after the account's final bill date, the rest on or before it.
    Detectable P. The MISSING_CHARGE it shows while still unposted (as-of S + 4 .. P - 1) is
    cured by it and is not in truth.
PRICE_MISMATCH (expected-charge key): unit amount = the pre-change price of a code whose price
    changed on or before S (stale price), else the right price off by 5-25%; extended = qty x
    unit; billing and GL include it. Detectable P.
UNKNOWN_CDM (completed procedure): the procedure and its charge (posted on S) carry a code that
    is not in the chargemaster (999xxx) or, for a third, a retired (status I) or expired code;
    the GL batch leaves the line out, billing includes it. Detectable S.
UNKNOWN_VISIT (DFT message): an extra message for a visit number ADT never sent (facility prefix
    + `0` + 5 digits, disjoint from real numbers): one CG of an active, mapped lab/imaging code
    with S = P; in the GL batch, no billing account. Detectable P.
CHARGE_OUTSIDE_STAY (visit, at admission): either an outpatient/ED registration cancelled (A11)
    the same day after a documented lab/imaging test charged that day (the account is kept as
    CLOSED with that total), or a documented test plus its charge dated the day after discharge
    (posted that day). Detectable that day (ADT, documentation and charge all land then).
UNMAPPED_DEPARTMENT (facility day): a documented procedure and its charge (posted on S) carry a
    department code the department map lacks for the facility; each code is used once per
    facility; not in the GL batch, in the account total. Detectable S.
UNMAPPED_ITEM (surgical case): a case-supply row of an item id that is not in the item master
    (no inventory issue, no charge). Detectable S.
MED_DISPENSED_NOT_ADMINISTERED (completed administration): its cabinet vend is one unit higher
    than the dose and the surplus is never returned or wasted. Detectable min(S + 2, discharge
    date): the rule waits until the visit is discharged or the difference is older than a day.
MED_ADMINISTERED_NOT_DISPENSED (completed administration): no cabinet transaction at all for it
    (override / dispensed outside the cabinets); charged normally. Detectable S.
WASTE_UNWITNESSED (waste transaction): witness_id left empty. Detectable S.
SUPPLY_NOT_RELIEVED (case-supply row): its inventory ISSUE (and so its GL INVENTORY line) is
    not made; a chargeable item is still charged. Detectable S.
SUPPLY_NOT_DOCUMENTED (surgical case): an extra ISSUE, with its GL INVENTORY line, of an item
    the case does not document; not charged. Detectable S.
GL_REVENUE_VARIANCE (revenue GL line of a posted batch): the line's credit is off by 5-250
    dollars, or (batches of 2+ lines, amounts > 5) the line is missing. Detectable P + 1 (the
    GL file that carries batch P).
GL_INVENTORY_VARIANCE (facility, cost center and issue date): one issue's INVENTORY line is off
    by 5-250 dollars, or missing (cost > 5). Detectable on the issue date (same-day landing).
GL_UNPOSTED_BATCH (facility and posting date with a batch): the REVENUE_INTERFACE batch never
    lands, or lands with status UNPOSTED (never updated). Detectable P + 2.
ACCOUNT_TOTAL_MISMATCH (visit, at admission): patient accounting misses the visit's first posted
    CG line, so total_charges is short by its amount from that day on. Detectable P of that line.
DISCHARGED_NOT_FINAL_BILLED (visit discharged >= 8 days before the end): the account stays DNFB
    and is never final billed. Detectable discharge + dnfb_alert_days + 1 = discharge + 8.
ENCOUNTER_NO_ACCOUNT (visit discharged < 8 days before the end, so that DNFB cannot fire in the
    range): no billing account in any snapshot. Detectable P of the visit's first charge line.
LABOR_GL_VARIANCE (facility, cost center and pay period): the PAYROLL line is off by 25-900
    dollars or missing. Detectable period end + 1 (when the period's payroll and its last day's
    timecards land).

Truth keys follow reconciliation.md's business keys: charge rules fill facility, visit, CDM code
and service date (+ transaction_id for LATE_CHARGE and PRICE_MISMATCH); pharmacy rules the NDC in
item_or_ndc; supply rules case_id and item; UNMAPPED_DEPARTMENT the source department code;
UNMAPPED_ITEM the item; GL rules cost center, natural account and the batch / issue / pay-period
end date in service_date (cost center and account empty for GL_UNPOSTED_BATCH); account rules
facility and visit.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from decimal import Decimal

from .charges import DAY, ChargeDesk
from .model import ExpectedKey, FacilityState, Visit

RULES: tuple[str, ...] = (
    "MISSING_CHARGE", "CHARGE_QTY_MISMATCH", "UNDOCUMENTED_CHARGE", "DUPLICATE_CHARGE",
    "LATE_CHARGE", "PRICE_MISMATCH", "UNKNOWN_CDM", "UNKNOWN_VISIT", "CHARGE_OUTSIDE_STAY",
    "UNMAPPED_DEPARTMENT", "UNMAPPED_ITEM", "MED_DISPENSED_NOT_ADMINISTERED",
    "MED_ADMINISTERED_NOT_DISPENSED", "WASTE_UNWITNESSED", "SUPPLY_NOT_RELIEVED",
    "SUPPLY_NOT_DOCUMENTED", "GL_REVENUE_VARIANCE", "GL_INVENTORY_VARIANCE", "GL_UNPOSTED_BATCH",
    "ACCOUNT_TOTAL_MISMATCH", "DISCHARGED_NOT_FINAL_BILLED", "ENCOUNTER_NO_ACCOUNT",
    "LABOR_GL_VARIANCE",
)

DEFAULT_DEFECT_RATES: dict[str, float] = {
    "MISSING_CHARGE": 0.006,
    "CHARGE_QTY_MISMATCH": 0.003,
    "UNDOCUMENTED_CHARGE": 0.005,
    "DUPLICATE_CHARGE": 0.004,
    "LATE_CHARGE": 0.006,
    "PRICE_MISMATCH": 0.003,
    "UNKNOWN_CDM": 0.003,
    "UNKNOWN_VISIT": 0.003,
    "CHARGE_OUTSIDE_STAY": 0.006,
    "UNMAPPED_DEPARTMENT": 0.08,
    "UNMAPPED_ITEM": 0.015,
    "MED_DISPENSED_NOT_ADMINISTERED": 0.003,
    "MED_ADMINISTERED_NOT_DISPENSED": 0.003,
    "WASTE_UNWITNESSED": 0.01,
    "SUPPLY_NOT_RELIEVED": 0.005,
    "SUPPLY_NOT_DOCUMENTED": 0.02,
    "GL_REVENUE_VARIANCE": 0.01,
    "GL_INVENTORY_VARIANCE": 0.03,
    "GL_UNPOSTED_BATCH": 0.06,
    "ACCOUNT_TOTAL_MISMATCH": 0.006,
    "DISCHARGED_NOT_FINAL_BILLED": 0.006,
    "ENCOUNTER_NO_ACCOUNT": 0.012,
    "LABOR_GL_VARIANCE": 0.1,
}

CHARGE_WINDOW_DAYS = 3
LATE_CHARGE_DAYS = 3
DNFB_ALERT_DAYS = 7
KEY_RULES = ("MISSING_CHARGE", "CHARGE_QTY_MISMATCH", "DUPLICATE_CHARGE", "LATE_CHARGE",
             "PRICE_MISMATCH")
_CENT = Decimal("0.01")


def effective_rates(scale: float, overrides: Mapping[str, float] | None) -> dict[str, float]:
    """Per-rule probabilities: override if given, else default x scale; clipped to [0, 1]."""
    if scale < 0:
        raise ValueError("defect_scale must be >= 0")
    unknown = sorted(set(overrides or {}) - set(RULES))
    if unknown:
        raise ValueError(f"unknown rule ids in defect_rates: {', '.join(unknown)}")
    rates = {}
    for rule in RULES:
        rate = (overrides or {}).get(rule, DEFAULT_DEFECT_RATES[rule] * scale)
        rates[rule] = min(max(float(rate), 0.0), 1.0)
    return rates


class DefectBook:
    """Rolls defects against the rates and keeps the truth rows (unique per rule and key)."""

    def __init__(self, rates: dict[str, float], end: dt.date) -> None:
        self.rates = rates
        self.end = end
        self.rows: list[tuple[str, ...]] = []
        self._keys: set[tuple[str, ...]] = set()
        self.counts: dict[str, int] = dict.fromkeys(RULES, 0)
        self._totals: dict[tuple[str, ...], float] = {}

    def roll(self, rng: random.Random, rule: str) -> bool:
        """True with the rule's probability (no draw at all when the rate is 0)."""
        rate = self.rates[rule]
        return rate > 0 and rng.random() < rate

    def pick(self, rng: random.Random, rules: tuple[str, ...]) -> str | None:
        """At most one of `rules` from a single draw (each with its own probability)."""
        total = self._totals.get(rules)
        if total is None:
            total = self._totals[rules] = sum(self.rates[r] for r in rules)
        if total <= 0:
            return None
        u = rng.random()
        if u >= total:
            return None
        for rule in rules:
            u -= self.rates[rule]
            if u < 0:
                return rule
        return None

    def record(self, rule: str, facility: str, detectable: dt.date, *, visit: str = "",
               cdm: str = "", item: str = "", service: dt.date | None = None, cc: str = "",
               account: str = "", dept: str = "", case: str = "", txn: str = "") -> None:
        """Add one truth row; a second defect on the same rule and key is a generator bug."""
        if detectable > self.end:
            raise AssertionError(f"{rule} injected but not detectable in range: {detectable}")
        row = (rule, facility, visit, cdm, item, service.isoformat() if service else "", cc,
               account, dept, case, txn, detectable.isoformat())
        key = row[:11]
        if key in self._keys:
            raise AssertionError(f"two defects on one key: {key}")
        self._keys.add(key)
        self.rows.append(row)
        self.counts[rule] += 1

    def sorted_rows(self) -> list[tuple[str, ...]]:
        """Truth rows in a deterministic order (rule, facility, date, then the rest of the key)."""
        return sorted(self.rows, key=lambda r: (r[0], r[1], r[5], r[2], r[3], r[4], r[6], r[7],
                                                r[8], r[9], r[10]))


def inject_key_defect(book: DefectBook, desk: ChargeDesk, fs: FacilityState, v: Visit,
                      key: ExpectedKey, service: dt.date, lag: int, rng: random.Random) -> bool:
    """Maybe inject one charge-key defect; True when it did (and queued the key's lines)."""
    end = book.end
    post = service + lag * DAY
    fac = v.fac.code
    code = key.cdm.code
    rule = book.pick(rng, KEY_RULES)
    if rule is None:
        return False
    if rule == "MISSING_CHARGE":
        detect = service + (CHARGE_WINDOW_DAYS + 1) * DAY
        if detect > end:
            return False
        book.record(rule, fac, detect, visit=v.number, cdm=code, service=service)
    elif rule == "CHARGE_QTY_MISMATCH":
        if post > end:
            return False
        qty = key.qty - 1 if key.qty >= 2 and rng.random() < 0.5 else key.qty + 1
        desk.queue(fs, desk.key_line(v, key, service, qty=qty), post)
        book.record(rule, fac, post, visit=v.number, cdm=code, service=service)
    elif rule == "DUPLICATE_CHARGE":
        second = post + rng.randint(0, 2 - lag) * DAY
        if second > end:
            return False
        desk.queue(fs, desk.key_line(v, key, service), post)
        desk.queue(fs, desk.key_line(v, key, service), second)
        book.record(rule, fac, second, visit=v.number, cdm=code, service=service)
    elif rule == "LATE_CHARGE":
        if not _late_charge(book, desk, fs, v, key, service, rng):
            return False
    else:  # PRICE_MISMATCH
        if post > end:
            return False
        line = desk.key_line(v, key, service, unit=_wrong_price(key, service, rng))
        line.truth_rule = rule
        desk.queue(fs, line, post)
    v.defect = rule
    return True


def _late_charge(book: DefectBook, desk: ChargeDesk, fs: FacilityState, v: Visit,
                 key: ExpectedKey, service: dt.date, rng: random.Random) -> bool:
    """Queue the key's only line 4-6 days late; the truth row is written at posting."""
    lags = [d for d in range(LATE_CHARGE_DAYS + 1, LATE_CHARGE_DAYS + 4)
            if service + d * DAY <= book.end]
    if not lags:
        return False
    bill = v.final_bill_date
    after = [d for d in lags if bill is not None and service + d * DAY > bill]
    before = [d for d in lags if bill is None or service + d * DAY <= bill]
    want_after = rng.random() < 0.3
    choices = (after or before) if want_after else (before or after)
    line = desk.key_line(v, key, service)
    line.truth_rule = "LATE_CHARGE"
    desk.queue(fs, line, service + rng.choice(choices) * DAY)
    return True


def _wrong_price(key: ExpectedKey, service: dt.date, rng: random.Random) -> Decimal:
    """A unit price that is not the chargemaster price of the service date."""
    cdm = key.cdm
    right = cdm.price_on(service)
    if cdm.change_date is not None and service >= cdm.change_date and cdm.price != right:
        return cdm.price  # stale price after a chargemaster update
    factor = Decimal(str(round(rng.choice((-1, 1)) * rng.uniform(0.05, 0.25), 3)))
    wrong = (right * (1 + factor)).quantize(_CENT)
    if abs(wrong - right) <= _CENT:
        wrong = right + Decimal("1.00")
    return max(wrong, Decimal("0.50"))
