"""Master data of the demo health system: facilities, cost centers, department map, chargemaster
(with price history), item master, providers, cabinets and staff rosters.

Everything derives from the seed and the generated range: a few chargemaster codes change price
on a day inside the range (the old row then ends the day before, the new row starts that day),
and the master holds a few retired (status I) and expired codes that clean data never charges.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from . import catalog
from .rand import stream
from .writers import CSV_EOL, hl7_escape, money, q

_CENT = Decimal("0.01")
_QUARTER = Decimal("0.25")
COST_CENTER_BLOCKS = (6, 7, 8, 9, 1, 2, 3, 4, 5)
UNIT_DEPARTMENTS = ("ED", "MED", "ICU", "PEDS", "SURG")
_LATERAL_PARTS = ("KNEE", "ANKLE", "FOOT", "WRIST", "HAND", "SHOULDER", "ELBOW", "FOREARM", "HIP")


@dataclass(slots=True, eq=False)
class CdmEntry:
    """One chargemaster code (or an unknown code used only by defects)."""

    code: str
    description: str
    revenue_code: str
    cpt_hcpcs: str
    ndc: str
    department: str
    price: Decimal
    gl_account: str
    kind: str  # proc, surgery, drug, supply, implant, retired, expired, unknown
    effective_from: dt.date
    effective_to: dt.date | None = None
    status: str = "A"
    change_date: dt.date | None = None
    new_price: Decimal | None = None
    in_master: bool = True
    ft1_code: str = ""  # escaped `code^description^CDM`
    lateral: bool = False  # documented with an LT/RT modifier

    def __post_init__(self) -> None:
        self.ft1_code = f"{self.code}^{hl7_escape(self.description)}^CDM"
        self.lateral = self.description.startswith(("XR", "MRI")) and any(
            part in self.description for part in _LATERAL_PARTS)

    def price_on(self, day: dt.date) -> Decimal:
        """Chargemaster unit price in effect on `day`."""
        if self.change_date is not None and day >= self.change_date:
            return self.new_price  # type: ignore[return-value]
        return self.price

    def active_on(self, day: dt.date) -> bool:
        """True when an `A` row of this code covers `day` (the code maps to revenue)."""
        if not self.in_master or self.status != "A" or day < self.effective_from:
            return False
        return self.effective_to is None or day <= self.effective_to


@dataclass(slots=True, eq=False)
class Drug:
    """A drug administered from cabinets, charged through its NDC's chargemaster code."""

    cdm: CdmEntry
    ndc: str
    description: str
    unit: str
    controlled: bool
    pediatric: bool
    csv_description: str = ""

    def __post_init__(self) -> None:
        self.csv_description = q(self.description)


@dataclass(slots=True, eq=False)
class Item:
    """An item-master row; chargeable items carry the chargemaster code they charge through."""

    item_id: str
    description: str
    unit: str
    unit_cost: Decimal
    category: str
    implant: bool
    cdm: CdmEntry | None
    kind: str = ""
    status: str = "A"

    def row(self) -> str:
        """Item-master CSV row."""
        cdm = self.cdm
        return (f"{self.item_id},{q(self.description)},{self.unit},{money(self.unit_cost)},"
                f"{self.category},{'Y' if cdm else 'N'},{'Y' if self.implant else 'N'},"
                f"{cdm.code if cdm else ''},{cdm.cpt_hcpcs if cdm else ''},{self.status}{CSV_EOL}")


@dataclass(slots=True, eq=False)
class Surgery:
    """A surgical procedure code with the implant kinds it uses."""

    cdm: CdmEntry
    implant_kinds: tuple[str, ...]
    adult: bool
    pediatric: bool


@dataclass(slots=True, eq=False)
class Employee:
    """A staff member on a cost center's roster."""

    employee_id: str
    rate: Decimal
    shift_hours: float


@dataclass(slots=True, eq=False)
class Facility:
    """A facility with its identifier prefix, GL entity and department-to-cost-center map."""

    code: str
    index: int
    prefix: str
    entity: str
    pediatric: bool
    cost_centers: dict[str, str] = field(default_factory=dict)  # EHR department -> cost center
    revenue_accounts: dict[str, str] = field(default_factory=dict)  # cost center -> natural acct
    support_cost_centers: list[str] = field(default_factory=list)
    retired_cost_center: str = ""
    inpatient_services: tuple[tuple[str, float], ...] = ()
    providers: dict[str, list[str]] = field(default_factory=dict)  # department -> NPIs
    nurses: dict[str, list[str]] = field(default_factory=dict)  # unit -> user ids
    cabinets: dict[str, list[str]] = field(default_factory=dict)  # unit -> cabinet ids
    rosters: dict[str, list[Employee]] = field(default_factory=dict)  # cost center -> staff
    unmapped_pool: list[str] = field(default_factory=list)

    def account(self, cost_center: str, natural: str) -> str:
        """GL account string `entity-costcenter-natural-sub`."""
        return f"{self.entity}-{cost_center}-{natural}-00"


def facility_prefixes(codes: tuple[str, ...]) -> list[str]:
    """Identifier prefix per facility: its initial, or initial + 2-digit index on a clash."""
    initials = [c[0] for c in codes]
    if len(set(initials)) == len(initials):
        return initials
    return [f"{c[0]}{i + 1:02d}" for i, c in enumerate(codes)]


def npi_with_check_digit(base9: str) -> str:
    """Complete a 9-digit NPI base with its Luhn check digit (prefix 80840)."""
    digits = [int(c) for c in "80840" + base9]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return base9 + str((10 - total % 10) % 10)


def _price(rng: random.Random, base: int | str) -> Decimal:
    """A list price near `base`, on a quarter-dollar grid."""
    value = Decimal(str(base)) * Decimal(str(round(rng.uniform(0.94, 1.08), 3)))
    return max(_QUARTER, (value / _QUARTER).quantize(Decimal(1)) * _QUARTER).quantize(_CENT)


class MasterData:
    """All master data for one generation run (deterministic for the seed and range)."""

    def __init__(self, facilities: tuple[str, ...], seed: int, start: dt.date, end: dt.date,
                 visits_per_day: int) -> None:
        if not facilities:
            raise ValueError("at least one facility is needed")
        if len(facilities) > len(COST_CENTER_BLOCKS):
            raise ValueError(f"the demo numbers cost centers for at most "
                             f"{len(COST_CENTER_BLOCKS)} facilities")
        for code in facilities:
            if not code.isalnum() or code.upper() != code:
                raise ValueError(f"facility code must be upper-case letters/digits: {code!r}")
        rng = stream(seed, "master")
        self.start, self.end = start, end
        self.base_date = dt.date(start.year, 1, 1)
        self.departments = {d[0]: d for d in catalog.DEPARTMENTS}
        self.procedures: dict[str, list[CdmEntry]] = {}
        self.surgeries: list[Surgery] = []
        self.drugs: list[Drug] = []
        self.drug_by_ndc: dict[str, Drug] = {}
        self.items: list[Item] = []
        self.chargeable_items: list[Item] = []
        self.implants_by_kind: dict[str, list[Item]] = {}
        self.general_supplies: list[Item] = []
        self.floor_items: list[Item] = []
        self.inactive_codes: list[CdmEntry] = []
        self.unknown_codes: list[CdmEntry] = []
        self.cdm_entries: list[CdmEntry] = []
        self._build_chargemaster(rng)
        self._build_items(rng)
        self._schedule_price_changes(rng)
        prefixes = facility_prefixes(facilities)
        self.facilities = [self._build_facility(rng, code, i, prefixes[i], visits_per_day)
                           for i, code in enumerate(facilities)]
        self.by_code = {f.code: f for f in self.facilities}
        self._static_rows()

    # -- chargemaster -------------------------------------------------------------------------
    def _entry(self, code: str, desc: str, rev: str, cpt: str, ndc: str, dept: str,
               price: Decimal, acct: str, kind: str) -> CdmEntry:
        entry = CdmEntry(code, desc, rev, cpt, ndc, dept, price, acct, kind, self.base_date)
        self.cdm_entries.append(entry)
        return entry

    def _build_chargemaster(self, rng: random.Random) -> None:
        families = {"ED": "300", "IMG": "310", "MED": "320", "PEDS": "322", "ICU": "324",
                    "LAB": "340", "CARD": "360", "RESP": "370"}
        for dept, rows in catalog.PROCEDURES.items():
            fam = families[dept]
            acct = self.departments[dept][4]
            self.procedures[dept] = [
                self._entry(f"{fam}{i * 3 + 5:03d}", desc, rev, cpt, "", dept, _price(rng, base),
                            acct, "proc")
                for i, (desc, cpt, rev, base) in enumerate(rows)]
        surg_acct = self.departments["SURG"][4]
        for i, (desc, cpt, rev, base, kinds, adult, peds) in enumerate(catalog.SURGERIES):
            entry = self._entry(f"350{i * 3 + 5:03d}", desc, rev, cpt, "", "SURG",
                                _price(rng, base), surg_acct, "surgery")
            self.surgeries.append(Surgery(entry, kinds, adult, peds))
        pharm_acct = self.departments["PHARM"][4]
        for i, (desc, ndc, unit, price, hcpcs, controlled, peds) in enumerate(catalog.DRUGS):
            rev = "0636" if hcpcs else "0250"
            entry = self._entry(f"380{i * 3 + 5:03d}", desc, rev, hcpcs, ndc, "PHARM",
                                Decimal(price), pharm_acct, "drug")
            drug = Drug(entry, ndc, desc, unit, controlled, peds)
            self.drugs.append(drug)
            self.drug_by_ndc[ndc] = drug
        # Retired (status I) and expired codes: in the master, never in effect in the range.
        retired = (("IMG", "XR CHEST 4+ VIEWS", "71048", "0324", 420),
                   ("LAB", "BLEEDING TIME", "85002", "0305", 48),
                   ("CARD", "ECG RHYTHM STRIP", "93040", "0730", 95),
                   ("LAB", "CK-MB ISOENZYME", "82553", "0301", 88),
                   ("IMG", "CT HEAD W CONTRAST", "70460", "0351", 1720),
                   ("RESP", "IPPB TREATMENT", "94640", "0412", 80))
        for i, (dept, desc, cpt, rev, base) in enumerate(retired):
            kind = "retired" if i % 2 == 0 else "expired"
            fam = families[dept]
            entry = self._entry(f"{fam}9{i:02d}", desc, rev, cpt, "", dept, _price(rng, base),
                                self.departments[dept][4], kind)
            if kind == "retired":
                entry.status = "I"
            else:
                entry.effective_from = self.base_date - dt.timedelta(days=365)
                entry.effective_to = self.base_date - dt.timedelta(days=1)
            self.inactive_codes.append(entry)
        unknown = (("IMG", "CT ANGIO HEAD W/WO CONTRAST", "70496", "0351", 2380),
                   ("LAB", "HEPATITIS PANEL ACUTE", "80074", "0302", 210),
                   ("CARD", "EVENT MONITOR 30 DAY", "93268", "0731", 690),
                   ("IMG", "US LOWER EXTREMITY VENOUS", "93971", "0402", 540),
                   ("LAB", "LYME DISEASE AB", "86618", "0302", 95),
                   ("RESP", "HIGH FLOW NASAL CANNULA", "94799", "0410", 260),
                   ("IMG", "MRI PELVIS WO CONTRAST", "72195", "0610", 2410),
                   ("LAB", "HEPARIN ANTI-XA", "85520", "0305", 120))
        for i, (dept, desc, cpt, rev, base) in enumerate(unknown):
            entry = CdmEntry(f"999{101 + i * 7:03d}", desc, rev, cpt, "", dept, _price(rng, base),
                             self.departments[dept][4], "unknown", self.base_date, in_master=False)
            self.unknown_codes.append(entry)

    def _build_items(self, rng: random.Random) -> None:
        for i, (desc, hcpcs, rev, price, cost, implant, kind) in enumerate(
                catalog.CHARGEABLE_SUPPLIES):
            k = 100 + i * 4
            acct = catalog.IMPLANT_REVENUE_ACCOUNT if implant else catalog.SUPPLY_REVENUE_ACCOUNT
            entry = self._entry(f"330{k:03d}", desc, rev, hcpcs, "", "SURG", Decimal(price), acct,
                                "implant" if implant else "supply")
            item = Item(f"IT-55{k:03d}", desc, "EA", Decimal(cost),
                        "IMPLANT" if implant else "SUPPLY", implant, entry, kind)
            self.items.append(item)
            self.chargeable_items.append(item)
            if implant:
                self.implants_by_kind.setdefault(kind, []).append(item)
            else:
                self.general_supplies.append(item)
        for i, (desc, category, unit, cost) in enumerate(catalog.FLOOR_SUPPLIES):
            item = Item(f"IT-20{100 + i * 6:03d}", desc, unit, Decimal(cost), category, False, None)
            self.items.append(item)
            self.floor_items.append(item)
        for i, desc in enumerate(("SUTURE CHROMIC 3-0 (DISCONTINUED)", "GLOVE LATEX SZ 7")):
            self.items.append(Item(f"IT-29{900 + i:03d}", desc, "EA", Decimal("1.00"), "SUPPLY",
                                   False, None, status="I"))

    def _schedule_price_changes(self, rng: random.Random) -> None:
        span = (self.end - self.start).days
        if span < 1:
            return
        for entry in self.cdm_entries:
            if entry.kind in ("proc", "surgery", "drug", "supply", "implant") and \
                    rng.random() < 0.06:
                entry.change_date = self.start + dt.timedelta(days=rng.randint(1, span))
                bump = Decimal(str(round(rng.uniform(1.03, 1.12), 3)))
                entry.new_price = (entry.price * bump).quantize(_CENT)

    # -- facilities ---------------------------------------------------------------------------
    def _build_facility(self, rng: random.Random, code: str, index: int, prefix: str,
                        visits_per_day: int) -> Facility:
        pediatric = "CHILD" in code or "PED" in code
        fac = Facility(code, index, prefix, f"{(index + 1) * 100}", pediatric)
        block = COST_CENTER_BLOCKS[index]
        for dept, offset, _name, _line, acct in catalog.DEPARTMENTS:
            if (dept == "PEDS" and not pediatric) or (dept == "MED" and pediatric):
                continue
            cc = f"{block}{offset:03d}"
            fac.cost_centers[dept] = cc
            fac.revenue_accounts[cc] = acct
        fac.support_cost_centers = [f"{block}{off:03d}" for off, _n, _s in
                                    catalog.SUPPORT_COST_CENTERS]
        fac.retired_cost_center = f"{block}{catalog.RETIRED_COST_CENTER[0]:03d}"
        fac.inpatient_services = ((("PEDS", 0.62), ("SURG", 0.23), ("ICU", 0.15)) if pediatric
                                  else (("MED", 0.6), ("SURG", 0.25), ("ICU", 0.15)))
        for dept in fac.cost_centers:
            fac.providers[dept] = [npi_with_check_digit(str(rng.randint(100000000, 199999999)))
                                   for _ in range(6)]
        for unit in UNIT_DEPARTMENTS:
            if unit not in fac.cost_centers:
                continue
            fac.nurses[unit] = [f"RN{rng.randint(1000, 9999)}" for _ in range(10)]
            fac.cabinets[unit] = [f"{unit}-ADC-{k}" for k in range(1, 3 if unit != "ED" else 2)]
        scale = max(visits_per_day, 1) / 40.0
        staffing = {"ED": (10, 45, 60, 12.0), "MED": (12, 42, 58, 12.0), "ICU": (8, 48, 65, 12.0),
                    "PEDS": (10, 42, 58, 12.0), "CARD": (3, 36, 50, 8.0),
                    "RESP": (4, 34, 46, 12.0), "IMG": (5, 38, 52, 8.0), "LAB": (6, 30, 45, 8.0),
                    "PHARM": (4, 55, 75, 8.0), "SURG": (8, 44, 62, 10.0)}
        emp = index * 100000 + 10000
        for dept, cc in fac.cost_centers.items():
            count, low, high, hours = staffing[dept]
            fac.rosters[cc] = []
            for _ in range(max(2, round(count * scale))):
                emp += 1
                rate = Decimal(str(round(rng.uniform(low, high), 2))).quantize(_CENT)
                fac.rosters[cc].append(Employee(f"E-{emp:06d}", rate, hours))
        for cc in fac.support_cost_centers:
            fac.rosters[cc] = []
            for _ in range(max(2, round(3 * scale))):
                emp += 1
                rate = Decimal(str(round(rng.uniform(21, 29), 2))).quantize(_CENT)
                fac.rosters[cc].append(Employee(f"E-{emp:06d}", rate, 8.0))
        fac.unmapped_pool = [c for c in catalog.UNMAPPED_DEPARTMENT_CODES
                             if c not in fac.cost_centers]
        rng.shuffle(fac.unmapped_pool)
        return fac

    # -- snapshot rows ------------------------------------------------------------------------
    def _static_rows(self) -> None:
        base = self.base_date.isoformat()
        rows = []
        for fac in self.facilities:
            for dept, _offset, name, line, acct in catalog.DEPARTMENTS:
                cc = fac.cost_centers.get(dept)
                if cc:
                    rows.append(f"{cc},{fac.code},{q(name)},{line},{acct},true,{base},{CSV_EOL}")
            for (_offset, name, line), cc in zip(catalog.SUPPORT_COST_CENTERS,
                                                fac.support_cost_centers, strict=True):
                rows.append(f"{cc},{fac.code},{q(name)},{line},,true,{base},{CSV_EOL}")
            _o, name, line = catalog.RETIRED_COST_CENTER
            old_from = dt.date(self.base_date.year - 3, 1, 1).isoformat()
            old_to = (self.base_date - dt.timedelta(days=1)).isoformat()
            rows.append(f"{fac.retired_cost_center},{fac.code},{q(name)},{line},,false,"
                        f"{old_from},{old_to}{CSV_EOL}")
        self.cost_center_rows = rows
        self.department_map_rows = [f"EHR,{dept},{fac.code},{cc}{CSV_EOL}"
                                    for fac in self.facilities
                                    for dept, cc in fac.cost_centers.items()]
        self.item_rows = [item.row() for item in self.items]

    def chargemaster_rows(self, day: dt.date) -> list[str]:
        """Full chargemaster snapshot as known on `day` (price-change rows from their date)."""
        rows = []
        for e in self.cdm_entries:
            head = (f"{e.code},{q(e.description)},{e.revenue_code},{e.cpt_hcpcs},{e.ndc},"
                    f"{e.department},")
            eff_to = e.effective_to.isoformat() if e.effective_to else ""
            if e.change_date is not None and day >= e.change_date:
                old_to = (e.change_date - dt.timedelta(days=1)).isoformat()
                rows.append(f"{head}{money(e.price)},{e.gl_account},{e.effective_from.isoformat()},"
                            f"{old_to},{e.status}{CSV_EOL}")
                rows.append(f"{head}{money(e.new_price)},{e.gl_account},"  # type: ignore[arg-type]
                            f"{e.change_date.isoformat()},{eff_to},{e.status}{CSV_EOL}")
            else:
                rows.append(f"{head}{money(e.price)},{e.gl_account},{e.effective_from.isoformat()},"
                            f"{eff_to},{e.status}{CSV_EOL}")
        return rows
