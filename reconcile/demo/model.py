"""In-memory records of the simulation: patients, visits, expected and posted charge lines.

Only open and recently billed visits are held; everything else is streamed to the landing files
as soon as it is generated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .masterdata import CdmEntry, Facility

ZERO = Decimal("0.00")


@dataclass(slots=True, eq=False)
class Patient:
    """A fake patient (PHI appears only in ADT/DFT PID and as MRN in pharmacy and billing)."""

    mrn: str
    last: str
    first: str
    dob: str  # YYYYMMDD
    sex: str


@dataclass(slots=True, eq=False)
class Visit:
    """One encounter, planned at admission (class, stay, billing) and filled in day by day."""

    number: str
    fac: Facility
    patient: Patient
    account: str
    pclass: str  # I, O, E
    service: str  # PV1-10 hospital service (EHR department)
    unit: str  # PV1-3 component 1, also the cabinet unit
    room: str
    bed: str
    attending: str
    admit_date: dt.date
    admit_min: int
    discharge_date: dt.date
    discharge_min: int
    final_bill_date: dt.date | None
    case_day: dt.date | None = None
    cancelled: bool = False  # A11 on the admit day
    cancel_min: int = 0
    a08_date: dt.date | None = None
    a08_min: int = 0
    a13_min: int | None = None  # erroneous A03 + A13 on the day before discharge
    defect: str | None = None  # the one defect this visit carries, if any
    special: bool = False  # cancelled / A13 visits never carry defects
    has_account: bool = True
    account_mismatch_pending: bool = False
    no_account_pending: bool = False
    outside_after_discharge: bool = False
    posted_total: Decimal = ZERO
    billing_offset: Decimal = ZERO
    retire_date: dt.date | None = None
    admit_hl7: str = ""  # PV1-44
    pv1: str = ""  # PV1 segment without admit/discharge times
    pid: str = ""  # PID segment

    @property
    def free(self) -> bool:
        """True when the visit may still receive a defect."""
        return self.defect is None and not self.special


@dataclass(slots=True, eq=False)
class ExpectedKey:
    """Documented activity of one (visit, CDM code, service date): what should be charged."""

    cdm: CdmEntry
    qty: int
    dept: str
    perf: str
    order_no: str
    modifiers: list[str] = field(default_factory=list)
    ndc: str = ""
    withdrawn: list[str] = field(default_factory=list)  # re-sent entered-in-error resources
    force_lag0: bool = False  # defect keys post on the service date
    plain: bool = True  # eligible for a charge-key defect


@dataclass(slots=True, eq=False)
class ChargeLine:
    """One FT1 line waiting for (or at) its posting date."""

    visit: Visit
    cdm: CdmEntry
    service: dt.date
    ttype: str  # CG / CD
    qty: int
    unit: Decimal
    ext: Decimal
    dept: str
    perf: str
    ordering: str
    order_no: str
    modifiers: str
    ndc: str
    gl: tuple[str, str] | None  # (cost center, natural account) when it maps to revenue
    truth_rule: str | None = None  # LATE_CHARGE / PRICE_MISMATCH: truth row written at posting
    billing_skip: bool = False


class Sequences:
    """Identifier counters shared by all facilities (MRNs, accounts, orders, cases, resources)."""

    __slots__ = ("mrn", "account", "order", "rx", "serial", "procedure", "medication", "cases")

    def __init__(self) -> None:
        self.mrn = 1000000
        self.account = 88000000
        self.order = 5500000
        self.rx = 9900000
        self.serial = 7700000
        self.procedure = 0
        self.medication = 0
        self.cases: dict[int, int] = {}

    def next_mrn(self) -> str:
        """`MRN` + 7 digits."""
        self.mrn += 1
        return f"MRN{self.mrn:07d}"

    def next_account(self) -> str:
        """Patient account number (PID-18)."""
        self.account += 1
        return f"ACCT{self.account:08d}"

    def next_order(self) -> str:
        """Procedure order number (FT1-23)."""
        self.order += 1
        return f"ORD{self.order}"

    def next_rx(self) -> str:
        """Medication order number (MedicationAdministration.request, cabinet order_number)."""
        self.rx += 1
        return f"RX{self.rx}"

    def next_serial(self) -> str:
        """Implant serial number."""
        self.serial += 1
        return f"SN{self.serial}"

    def next_case(self, year: int) -> str:
        """Surgical case id `OR-YYYY-NNNN`, numbered per year across facilities."""
        n = self.cases.get(year, 0) + 1
        self.cases[year] = n
        return f"OR-{year}-{n:04d}"


@dataclass(slots=True, eq=False)
class FacilityState:
    """Everything the simulation holds for one facility between days."""

    fac: Facility
    visits: dict[str, Visit] = field(default_factory=dict)  # open and recently billed
    open: list[Visit] = field(default_factory=list)  # admitted, not yet past discharge
    pending: dict[dt.date, list[ChargeLine]] = field(default_factory=dict)
    pending_fhir: dict[dt.date, list[str]] = field(default_factory=dict)
    gl_revenue: dict[dt.date, dict[tuple[str, str], Decimal]] = field(default_factory=dict)
    payroll: dict[tuple[str, dt.date], Decimal] = field(default_factory=dict)
    discharged_yesterday: list[Visit] = field(default_factory=list)
    visit_seq: int = 100000
    unknown_visit_seq: int = 0
    txn_seq: int = 7780000
    adc_seq: int = 990000
    inv_seq: int = 2290000
    adt_seq: int = 0
    dft_seq: int = 0
    tc_seq: int = 70000
    unmapped_used: int = 0

    def next_visit(self) -> str:
        """Visit number: facility prefix + 6 digits (never starting with 0)."""
        self.visit_seq += 1
        return f"{self.fac.prefix}{self.visit_seq:06d}"

    def next_unknown_visit(self) -> str:
        """A visit number ADT never sent (prefix + `0` + 5 digits, disjoint from real ones)."""
        self.unknown_visit_seq += 1
        return f"{self.fac.prefix}0{self.unknown_visit_seq % 100000:05d}"

    def next_txn(self) -> str:
        """FT1-2 transaction id, unique per facility."""
        self.txn_seq += 1
        return f"CH{self.fac.prefix}{self.txn_seq}"

    def next_adc(self) -> str:
        """Cabinet transaction id."""
        self.adc_seq += 1
        return f"ADC-{self.fac.prefix}-{self.adc_seq}"

    def next_inv(self) -> str:
        """Inventory transaction id."""
        self.inv_seq += 1
        return f"INV-{self.fac.prefix}-{self.inv_seq}"

    def next_adt(self) -> str:
        """MSH-10 of an ADT message."""
        self.adt_seq += 1
        return f"ADT{self.fac.prefix}{self.adt_seq:07d}"

    def next_dft(self) -> str:
        """MSH-10 of a DFT message."""
        self.dft_seq += 1
        return f"DFT{self.fac.prefix}{self.dft_seq:07d}"

    def next_timecard(self) -> str:
        """Timecard id."""
        self.tc_seq += 1
        return f"TC-{self.fac.prefix}-{self.tc_seq}"
