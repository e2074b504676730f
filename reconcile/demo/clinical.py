"""Clinical side of the demo: admissions and ADT, and each visit day's documented activity.

Visits are planned at admission (class I/O/E, length of stay, discharge time, billing hold) and
documented day by day: procedures (FHIR Procedure with CPT + CDM coding), drug administrations
(FHIR MedicationAdministration by NDC, matched by cabinet vends with returns and witnessed waste so
that vends - returns - waste = administered), and surgical cases (case supplies with one inventory
ISSUE per documented row). Each day's documentation becomes expected-charge keys that the
`ChargeDesk` turns into FT1 lines.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from . import catalog
from .charges import DAY, ChargeDesk, normal_lag
from .defects import DefectBook, inject_key_defect
from .masterdata import CdmEntry, Drug, Item, MasterData
from .model import ExpectedKey, FacilityState, Patient, Sequences, Visit
from .writers import CSV_EOL, DateText, FeedFile, hl7_escape, money

_MED_RULES = ("MED_DISPENSED_NOT_ADMINISTERED", "MED_ADMINISTERED_NOT_DISPENSED")
_SIDES = ("LT", "RT")
_PV1_GAP = "|" * 25  # PV1-20 .. PV1-43 empty, then PV1-44 admit and PV1-45 discharge
_ANESTHESIA = ("PROPOFOL", "FENTANYL", "MIDAZOLAM", "ROCURONIUM", "CEFAZOLIN", "ONDANSETRON",
               "DEXAMETHASONE", "LIDOCAINE")
_PROC = ('{"resourceType":"Procedure","id":"%s","status":"%s","code":{"coding":[{"system":'
         '"http://www.ama-assn.org/go/cpt","code":"%s"},{"system":"urn:chartledger:cdm",'
         '"code":"%s"}]},"subject":{"reference":"Patient/%s"},"encounter":{"identifier":'
         '{"value":"%s"}},"performedDateTime":"%s","performer":[{"actor":{"identifier":'
         '{"value":"%s"}}}],"extension":[{"url":"urn:chartledger:department","valueString":'
         '"%s"},{"url":"urn:chartledger:facility","valueString":"%s"}]}\n')
_MED = ('{"resourceType":"MedicationAdministration","id":"%s","status":"%s",'
        '"medicationCodeableConcept":{"coding":[{"system":"http://hl7.org/fhir/sid/ndc",'
        '"code":"%s"}]},"subject":{"reference":"Patient/%s"},"context":{"identifier":'
        '{"value":"%s"}},"effectiveDateTime":"%s","dosage":{"dose":{"value":%d,"unit":"%s"}},'
        '"request":{"identifier":{"value":"%s"}},"extension":[{"url":'
        '"urn:chartledger:department","valueString":"PHARM"},{"url":"urn:chartledger:facility",'
        '"valueString":"%s"}]}\n')


@dataclass(slots=True, eq=False)
class DayOut:
    """The open files and buffers one facility-day writes into."""

    day: DateText
    procedures: FeedFile
    medications: FeedFile
    cabinet: FeedFile
    cases: FeedFile
    inventory: FeedFile
    issues: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (cc, txn, cost)


def _weighted(entries: list[CdmEntry], common: int, weight: int) -> list[CdmEntry]:
    """A draw pool where the first `common` entries are `weight` times as likely."""
    return entries[:common] * weight + entries[common:]


class Clinic:
    """Plans visits, writes ADT and documentation, and hands expected charges to the desk."""

    def __init__(self, md: MasterData, seq: Sequences, desk: ChargeDesk, book: DefectBook,
                 visits_per_day: int) -> None:
        self.md, self.seq, self.desk, self.book = md, seq, desk, book
        self.end = book.end
        self.visits_per_day = visits_per_day
        p = md.procedures
        self.labs = _weighted(p["LAB"], 12, 4)
        self.imaging = _weighted(p["IMG"], 8, 3)
        self.card = _weighted(p["CARD"], 3, 4)
        self.resp = p["RESP"]
        self.ed_levels = p["ED"][:5]
        self.ed_procs = p["ED"][5:]
        self.icu = p["ICU"]
        self.undocumented_pool = p["LAB"] + p["IMG"]
        self.adult_drugs = [d for d in md.drugs if "SUSP" not in d.description]
        self.peds_drugs = [d for d in md.drugs if d.pediatric]
        self.anesthesia = [d for d in md.drugs if d.description.split()[0] in _ANESTHESIA]
        self.adult_surgery = [s for s in md.surgeries if s.adult]
        self.peds_surgery = [s for s in md.surgeries if s.pediatric]
        self.unknown_items: dict[str, int] = {}

    # -- admissions ---------------------------------------------------------------------------
    def admit(self, fs: FacilityState, day: dt.date, rng: random.Random,
              dfx: random.Random) -> list[Visit]:
        """Plan today's new visits (and their visit-level defects)."""
        return [self._plan(fs, day, rng, dfx) for _ in range(self.visits_per_day)]

    def _patient(self, pediatric: bool, day: dt.date, rng: random.Random) -> Patient:
        """A new fake patient (children only at a pediatric facility)."""
        sex = "F" if rng.random() < 0.52 else "M"
        first = rng.choice(catalog.FIRST_NAMES_F if sex == "F" else catalog.FIRST_NAMES_M)
        last = rng.choice(catalog.LAST_NAMES)
        age = rng.randint(0, 17) if pediatric else min(max(int(rng.gauss(56, 19)), 18), 97)
        dob = day - dt.timedelta(days=age * 365 + rng.randint(0, 364))
        return Patient(self.seq.next_mrn(), last, first, dob.strftime("%Y%m%d"), sex)

    def _plan(self, fs: FacilityState, day: dt.date, rng: random.Random,
              dfx: random.Random) -> Visit:
        """Plan one visit at admission: class, service, stay, discharge, billing hold, events."""
        fac = fs.fac
        r = rng.random()
        pclass = "I" if r < 0.28 else ("O" if r < 0.70 else "E")
        if pclass == "I":
            r = rng.random()
            acc = 0.0
            service = fac.inpatient_services[-1][0]
            for svc, weight in fac.inpatient_services:
                acc += weight
                if r < acc:
                    service = svc
                    break
            unit = "ICU" if service == "ICU" else ("PEDS" if fac.pediatric else "MED")
            admit_min = rng.choice((rng.randint(0, 1319), rng.randint(480, 1140)))
            los = rng.choice((1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6))
            discharge_min = rng.randint(540, 1080)
        else:
            if pclass == "O":
                r = rng.random()
                service = "IMG" if r < 0.35 else ("LAB" if r < 0.65 else
                                                  ("CARD" if r < 0.75 else "SURG"))
                admit_min = rng.randint(420, 900)
                discharge_min = min(admit_min + rng.randint(60, 360), 1380)
            else:
                service = "ED"
                admit_min = rng.randint(0, 1259)
                discharge_min = min(admit_min + rng.randint(120, 420), 1435)
            unit = service
            los = 0
        discharge = day + los * DAY
        hold = rng.choice((3, 4, 4, 4, 5, 5, 6))
        providers = fac.providers.get(service) or fac.providers["ED"]
        patient = self._patient(fac.pediatric, day, rng)
        v = Visit(fs.next_visit(), fac, patient, self.seq.next_account(), pclass, service, unit,
                  str(rng.randint(101, 459)), rng.choice("AB"), rng.choice(providers), day,
                  admit_min, discharge, discharge_min, discharge + hold * DAY)
        if service == "SURG":
            v.case_day = day + (DAY if los >= 2 and rng.random() < 0.4 else dt.timedelta(0))
        if pclass != "I" and rng.random() < 0.015:
            v.cancelled = v.special = True
            v.cancel_min = min(admit_min + rng.randint(10, 120), 1435)
            v.has_account = False
        elif pclass == "I" and los >= 2 and rng.random() < 0.03:
            v.special = True
            v.a13_min = rng.randint(600, 1000)
        if not v.cancelled and rng.random() < 0.1:
            v.a08_date = day + rng.randint(0, los) * DAY
            low = admit_min + 1 if v.a08_date == day else 360
            high = discharge_min - 1 if v.a08_date == discharge else 1439
            v.a08_min = rng.randint(min(low, high), max(low, high))
        v.admit_hl7 = f"{day.strftime('%Y%m%d')}{admit_min // 60:02d}{admit_min % 60:02d}"
        v.retire_date = None if v.final_bill_date is None else v.final_bill_date + 14 * DAY
        v.pid = (f"PID|1||{patient.mrn}^^^{fac.code}^MR||{hl7_escape(patient.last)}^"
                 f"{hl7_escape(patient.first)}||{patient.dob}|{patient.sex}||||||||||{v.account}")
        v.pv1 = (f"PV1|1|{pclass}|{unit}^{v.room}^{v.bed}^{fac.code}||||{v.attending}|||{service}"
                 f"|||||||||{v.number}")
        if not v.special:
            self._visit_defects(v, pclass, dfx)
        if v.has_account:
            fs.visits[v.number] = v
        return v

    def _visit_defects(self, v: Visit, pclass: str, dfx: random.Random) -> None:
        """Visit-level defects decided at admission (outside stay and the account rules)."""
        book, end = self.book, self.end
        code = v.fac.code
        if book.roll(dfx, "CHARGE_OUTSIDE_STAY"):
            if pclass != "I" and dfx.random() < 0.5:
                v.defect = "CHARGE_OUTSIDE_STAY"
                v.cancelled = True
                v.cancel_min = min(v.admit_min + dfx.randint(60, 180), 1435)
                v.final_bill_date = v.a08_date = None
                v.retire_date = v.admit_date + 14 * DAY
                return
            if v.discharge_date + DAY <= end:
                v.defect = "CHARGE_OUTSIDE_STAY"
                v.outside_after_discharge = True
                return
        if book.roll(dfx, "DISCHARGED_NOT_FINAL_BILLED"):
            detect = v.discharge_date + 8 * DAY
            if detect <= end:
                v.defect = "DISCHARGED_NOT_FINAL_BILLED"
                v.final_bill_date = v.retire_date = None
                book.record("DISCHARGED_NOT_FINAL_BILLED", code, detect, visit=v.number)
                return
        if book.roll(dfx, "ENCOUNTER_NO_ACCOUNT") and v.discharge_date + 8 * DAY > end:
            v.defect = "ENCOUNTER_NO_ACCOUNT"
            v.has_account = False
            v.no_account_pending = True
            return
        if book.roll(dfx, "ACCOUNT_TOTAL_MISMATCH"):
            v.defect = "ACCOUNT_TOTAL_MISMATCH"
            v.account_mismatch_pending = True

    # -- ADT ----------------------------------------------------------------------------------
    def write_adt(self, fs: FacilityState, day: DateText, new: list[Visit], adt: FeedFile) -> None:
        """Write the facility's ADT messages of the day in event-time order."""
        events: list[tuple[int, int, str, str, Visit]] = []
        d = day.date
        for v in new:
            events.append((v.admit_min, 0, v.number, "A01" if v.pclass == "I" else "A04", v))
            if v.cancelled:
                events.append((v.cancel_min, 2, v.number, "A11", v))
        for v in fs.open:
            if v.a08_date == d:
                events.append((v.a08_min, 1, v.number, "A08", v))
            if v.a13_min is not None and v.discharge_date - DAY == d:
                events.append((v.a13_min, 3, v.number, "A03", v))
                events.append((v.a13_min + 25, 4, v.number, "A13", v))
            if v.discharge_date == d and not v.cancelled:
                events.append((v.discharge_min, 5, v.number, "A03", v))
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        fac = fs.fac.code
        for minute, _order, _num, event, v in events:
            stamp = day.hl7(minute)
            admit = v.admit_hl7
            discharge = ""
            if event == "A03":
                discharge = stamp
            msg = (f"MSH|^~\\&|EHR|{fac}|CHARTLEDGER|{fac}|{stamp}||ADT^{event}|{fs.next_adt()}"
                   f"|P|2.5.1\rEVN|{event}|{stamp}\r{v.pid}\r{v.pv1}{_PV1_GAP}{admit}|"
                   f"{discharge}\n")
            adt.add(msg)

    # -- documentation ------------------------------------------------------------------------
    def visit_day(self, fs: FacilityState, v: Visit, out: DayOut, rng: random.Random,
                  dfx: random.Random, unmapped_dept: str | None = None) -> None:
        """Document one in-house day of a visit and queue its charges."""
        d = out.day.date
        first = d == v.admit_date
        lo = v.admit_min if first else 360
        hi = v.discharge_min if d == v.discharge_date else 1380
        if hi - lo < 30:
            lo = max(0, hi - 30)
        keys: dict[str, ExpectedKey] = {}
        fac = v.fac
        if v.cancelled:  # the CHARGE_OUTSIDE_STAY registration cancelled after a charged test
            cdm = dfx.choice(self.undocumented_pool)
            self._procedure(fs, v, out, cdm, cdm.department, rng.randint(lo, v.cancel_min - 5),
                            keys, rng, dfx, status="completed", defect_ok=False)
            keys[cdm.code].force_lag0 = True
            keys[cdm.code].plain = False
            self.book.record("CHARGE_OUTSIDE_STAY", fac.code, d, visit=v.number, cdm=cdm.code,
                             service=d)
            self._schedule(fs, v, d, keys, rng, dfx)
            return
        procs: list[CdmEntry] = []
        meds = 0
        pick = rng.choice
        if v.pclass == "I":
            procs.extend(pick(self.labs) for _ in range(rng.randint(1, 4) + (2 if first else 0)))
            if rng.random() < (0.4 if first else 0.2):
                procs.append(pick(self.imaging))
            if rng.random() < 0.3:
                procs.extend(pick(self.resp[:2] + self.resp[5:7])
                             for _ in range(rng.randint(1, 2)))
            if rng.random() < 0.15:
                procs.append(pick(self.card[:6]))
            if v.unit in ("MED", "PEDS") and rng.random() < 0.5:
                pool = self.md.procedures[v.unit]
                procs.extend(pick(pool) for _ in range(rng.randint(1, 2)))
            if v.unit == "ICU":
                procs.append(self.icu[0])
                procs.extend(self.icu[1] for _ in range(rng.randint(0, 2)))
                if rng.random() < 0.3:
                    procs.append(self.resp[3] if first else self.resp[4])
                if rng.random() < 0.15:
                    procs.append(pick(self.icu[2:]))
            meds = rng.randint(4, 8) if v.unit == "ICU" else rng.randint(2, 6)
        elif v.pclass == "O":
            if v.service == "IMG":
                procs.extend(pick(self.imaging) for _ in range(rng.randint(1, 2)))
                if rng.random() < 0.2:
                    procs.append(pick(self.labs))
            elif v.service == "LAB":
                procs.extend(pick(self.labs) for _ in range(rng.randint(2, 6)))
            elif v.service == "CARD":
                procs.append(pick(self.card))
                if rng.random() < 0.5:
                    procs.append(self.card[1])
            else:
                procs.extend(pick(self.labs) for _ in range(rng.randint(0, 2)))
        else:
            procs.append(self.ed_levels[pick((0, 1, 2, 2, 3, 3, 3, 4, 4))])
            procs.extend(pick(self.labs) for _ in range(rng.randint(0, 5)))
            procs.extend(pick(self.imaging) for _ in range(pick((0, 0, 1, 1, 1, 2))))
            if rng.random() < 0.2:
                procs.append(pick(self.ed_procs))
            if rng.random() < 0.3:
                procs.append(self.card[1])
            meds = rng.randint(0, 3)
        for cdm in procs:
            self._procedure(fs, v, out, cdm, cdm.department, rng.randint(lo, hi), keys, rng, dfx)
        if meds:
            pool = self.peds_drugs if fac.pediatric else self.adult_drugs
            for _ in range(meds):
                self._medication(fs, v, out, pick(pool), rng.randint(lo, hi), v.unit, keys,
                                 rng, dfx)
        if v.case_day == d:
            self._case(fs, v, out, lo, hi, keys, rng, dfx)
        if unmapped_dept is not None:
            self._unmapped_department(fs, v, out, unmapped_dept, lo, hi, keys, rng, dfx)
        if v.free and self.book.roll(dfx, "UNDOCUMENTED_CHARGE"):
            self._undocumented(fs, v, d, keys, dfx)
        self._schedule(fs, v, d, keys, rng, dfx)

    def _procedure(self, fs: FacilityState, v: Visit, out: DayOut, cdm: CdmEntry, dept: str,
                   minute: int, keys: dict[str, ExpectedKey], rng: random.Random,
                   dfx: random.Random, *, status: str | None = None, defect_ok: bool = True,
                   npi: str | None = None, order_no: str | None = None) -> None:
        """One Procedure resource; completed ones add to the expected-charge keys."""
        seq = self.seq
        seq.procedure += 1
        rid = f"pr-{seq.procedure:08x}"
        if status is None:
            status = "not-done" if rng.random() < 0.015 else "completed"
        fac = v.fac
        force = False
        if (status == "completed" and defect_ok and cdm.kind == "proc" and v.free
                and self.book.roll(dfx, "UNKNOWN_CDM")):
            pool = self.md.unknown_codes if dfx.random() < 0.67 else self.md.inactive_codes
            cdm = dfx.choice(pool)
            dept = cdm.department
            v.defect = "UNKNOWN_CDM"
            force = True
            self.book.record("UNKNOWN_CDM", fac.code, out.day.date, visit=v.number, cdm=cdm.code,
                             service=out.day.date)
        if npi is None:
            npi = rng.choice(fac.providers.get(dept) or fac.providers["LAB"])
        text = _PROC % (rid, status, cdm.cpt_hcpcs, cdm.code, v.patient.mrn, v.number,
                        out.day.ts(minute), npi, dept, fac.code)
        out.procedures.add(text)
        if status != "completed":
            return
        key = keys.get(cdm.code)
        modifier = rng.choice(_SIDES) if cdm.lateral else ""
        if key is None:
            key = ExpectedKey(cdm, 1, dept, npi, order_no or self.seq.next_order())
            keys[cdm.code] = key
        else:
            key.qty += 1
            if cdm.department == "LAB":
                modifier = "91"
        if modifier and modifier not in key.modifiers:
            key.modifiers.append(modifier)
        if force:
            key.force_lag0 = True
            key.plain = False
        elif (cdm.kind == "proc" and not v.special and defect_ok and rng.random() < 0.004):
            key.plain = False
            key.withdrawn.append(
                text.replace('"status":"completed"', '"status":"entered-in-error"', 1))

    def _medication(self, fs: FacilityState, v: Visit, out: DayOut, drug: Drug, minute: int,
                    unit: str, keys: dict[str, ExpectedKey], rng: random.Random,
                    dfx: random.Random) -> None:
        """One administration with its cabinet vend (and any return or witnessed waste)."""
        seq = self.seq
        seq.medication += 1
        rid = f"ma-{seq.medication:08x}"
        fac = v.fac
        order_no = seq.next_rx()
        dose = 2 if rng.random() < 0.15 else 1
        r = rng.random()
        status = "not-done" if r < 0.02 else "completed"
        out.medications.add(_MED % (rid, status, drug.ndc, v.patient.mrn, v.number,
                                    out.day.ts(minute), dose, drug.unit, order_no, fac.code))
        vend, waste, ret = dose, 0, 0
        if status == "not-done":
            ret = dose
        elif r < (0.32 if drug.controlled else 0.10):
            vend, waste = dose + 1, 1
        elif r < (0.36 if drug.controlled else 0.14):
            vend, ret = dose + 1, 1
        book = self.book
        d = out.day.date
        if status == "completed" and v.free:
            rule = book.pick(dfx, _MED_RULES)
            if rule == "MED_DISPENSED_NOT_ADMINISTERED":
                detect = min(d + 2 * DAY, v.discharge_date)
                if detect <= self.end:
                    v.defect = rule
                    vend, waste, ret = dose + 1, 0, 0
                    book.record(rule, fac.code, detect, visit=v.number, item=drug.ndc)
            elif rule == "MED_ADMINISTERED_NOT_DISPENSED":
                v.defect = rule
                vend = waste = ret = 0
                book.record(rule, fac.code, d, visit=v.number, item=drug.ndc)
        if vend:
            nurses = fac.nurses[unit]
            nurse = rng.choice(nurses)
            cabinet = rng.choice(fac.cabinets[unit])
            head = f"{fac.code},{cabinet},"
            tail = (f",{v.number},{v.patient.mrn},{order_no},{drug.ndc},{drug.csv_description},")
            day = out.day
            vend_at = max(0, minute - rng.randint(5, 30))
            out.cabinet.add(f"{fs.next_adc()},{day.ts(vend_at)},{head}V{tail}{vend},{drug.unit},"
                            f"{nurse},{CSV_EOL}")
            if waste:
                witness = nurses[(nurses.index(nurse) + 1) % len(nurses)]
                if v.free and book.roll(dfx, "WASTE_UNWITNESSED"):
                    v.defect = "WASTE_UNWITNESSED"
                    witness = ""
                    book.record(v.defect, fac.code, d, visit=v.number, item=drug.ndc)
                at = min(1439, minute + rng.randint(1, 10))
                out.cabinet.add(f"{fs.next_adc()},{day.ts(at)},{head}W{tail}{waste},{drug.unit},"
                                f"{nurse},{witness}{CSV_EOL}")
            if ret:
                at = min(1439, minute + rng.randint(20, 120))
                out.cabinet.add(f"{fs.next_adc()},{day.ts(at)},{head}R{tail}{ret},{drug.unit},"
                                f"{nurse},{CSV_EOL}")
        if status != "completed":
            return
        cdm = drug.cdm
        key = keys.get(cdm.code)
        if key is None:
            perf = rng.choice(fac.providers["PHARM"])
            keys[cdm.code] = ExpectedKey(cdm, dose, "PHARM", perf, order_no, ndc=drug.ndc)
        else:
            key.qty += dose

    def _case(self, fs: FacilityState, v: Visit, out: DayOut, lo: int, hi: int,
              keys: dict[str, ExpectedKey], rng: random.Random, dfx: random.Random) -> None:
        """A surgical case: the surgery, anesthesia drugs, case supplies and their issues."""
        fac = v.fac
        d = out.day.date
        case_id = self.seq.next_case(d.year)
        surgery = rng.choice(self.peds_surgery if fac.pediatric else self.adult_surgery)
        surgeon = rng.choice(fac.providers["SURG"])
        start = rng.randint(lo, max(lo, hi - 150))
        self._procedure(fs, v, out, surgery.cdm, "SURG", start, keys, rng, dfx,
                        status="completed", defect_ok=False, npi=surgeon, order_no=case_id)
        for _ in range(rng.randint(2, 4)):
            self._medication(fs, v, out, rng.choice(self.anesthesia), start + rng.randint(0, 60),
                             "SURG", keys, rng, dfx)
        rows: list[tuple[Item, int, str]] = []
        md = self.md
        for kind in surgery.implant_kinds:
            items = md.implants_by_kind.get(kind, [])
            chosen = items if kind in ("KNEE", "HIP", "SPINE") else [rng.choice(items)]
            if kind == "PLATE":
                chosen = [rng.choice([i for i in items if "SCREW" not in i.description])]
                chosen += [i for i in items if "SCREW" in i.description]
            for item in chosen:
                if "SCREW" in item.description or "TUBE" in item.description:
                    rows.append((item, rng.randint(2, 6) if "SCREW" in item.description else 2, ""))
                else:
                    rows.append((item, 1, self.seq.next_serial()))
        for item in rng.sample(md.general_supplies, rng.randint(0, 3)):
            rows.append((item, rng.randint(1, 2) if "RELOAD" in item.description else 1, ""))
        for item in rng.sample(md.floor_items, rng.randint(3, 6)):
            rows.append((item, rng.randint(1, 4), ""))
        book = self.book
        extra_issue: Item | None = None
        unknown_item = ""
        if v.free and book.roll(dfx, "UNMAPPED_ITEM"):
            n = self.unknown_items.get(fac.code, 0) + 1
            self.unknown_items[fac.code] = n
            unknown_item = f"IT-8{fac.index}{n:04d}"
            v.defect = "UNMAPPED_ITEM"
            book.record("UNMAPPED_ITEM", fac.code, d, item=unknown_item)
        elif v.free and book.roll(dfx, "SUPPLY_NOT_DOCUMENTED"):
            used = {item.item_id for item, _q, _s in rows}
            extra_issue = dfx.choice([i for i in md.floor_items + md.general_supplies
                                      if i.item_id not in used])
            v.defect = "SUPPLY_NOT_DOCUMENTED"
            book.record("SUPPLY_NOT_DOCUMENTED", fac.code, d, visit=v.number, case=case_id,
                        item=extra_issue.item_id)
        day = out.day
        surg_cc = fac.cost_centers["SURG"]
        documented = min(1435, start + rng.randint(60, 180))
        issued_at = max(0, start - rng.randint(5, 40))
        for item, qty, serial in rows:
            implant = "Y" if item.implant else "N"
            out.cases.add(f"{case_id},{fac.code},{v.number},{day.ts(documented)},SURG,"
                          f"{item.item_id},{qty},{implant},{serial}{CSV_EOL}")
            if v.free and book.roll(dfx, "SUPPLY_NOT_RELIEVED"):
                v.defect = "SUPPLY_NOT_RELIEVED"
                book.record("SUPPLY_NOT_RELIEVED", fac.code, d, visit=v.number, case=case_id,
                            item=item.item_id)
            else:
                self._issue(fs, out, issued_at, item, qty, surg_cc, v.number, case_id)
            if item.cdm is not None:
                key = keys.get(item.cdm.code)
                if key is None:
                    keys[item.cdm.code] = ExpectedKey(item.cdm, qty, "SURG", surgeon, case_id)
                else:
                    key.qty += qty
        if unknown_item:
            out.cases.add(f"{case_id},{fac.code},{v.number},{day.ts(documented)},SURG,"
                          f"{unknown_item},1,N,{CSV_EOL}")
        if extra_issue is not None:
            self._issue(fs, out, issued_at, extra_issue, 1, surg_cc, v.number, case_id)

    def _issue(self, fs: FacilityState, out: DayOut, minute: int, item: Item, qty: int,
               cc: str, visit: str, case_id: str, location: str = "OR-CORE") -> None:
        """An inventory ISSUE row (department = ERP cost center) and its GL cost."""
        txn = fs.next_inv()
        out.inventory.add(f"{txn},{out.day.ts(minute)},ISSUE,{item.item_id},{qty},{item.unit},"
                          f"{money(item.unit_cost)},{fs.fac.code},{location},{cc},{visit},"
                          f"{case_id}{CSV_EOL}")
        out.issues.append((cc, txn, item.unit_cost * qty))

    def _unmapped_department(self, fs: FacilityState, v: Visit, out: DayOut, dept: str, lo: int,
                             hi: int, keys: dict[str, ExpectedKey], rng: random.Random,
                             dfx: random.Random) -> None:
        """A documented, charged procedure under a department code the map lacks."""
        d = out.day.date
        cdm = dfx.choice([c for c in self.undocumented_pool if c.code not in keys])
        self._procedure(fs, v, out, cdm, dept, dfx.randint(lo, hi), keys, rng, dfx,
                        status="completed", defect_ok=False,
                        npi=dfx.choice(v.fac.providers["LAB"]))
        key = keys[cdm.code]
        key.force_lag0 = True
        key.plain = False
        v.defect = "UNMAPPED_DEPARTMENT"
        self.book.record("UNMAPPED_DEPARTMENT", v.fac.code, d, dept=dept)

    def _undocumented(self, fs: FacilityState, v: Visit, d: dt.date,
                      keys: dict[str, ExpectedKey], dfx: random.Random) -> None:
        """A posted CG with no documentation behind it (compliance risk)."""
        post = d + normal_lag(dfx) * DAY
        if post > self.end:
            return
        cdm = dfx.choice([c for c in self.undocumented_pool if c.code not in keys])
        line = self.desk.line(v, cdm, d, "CG", 1, cdm.price_on(d), cdm.department,
                              dfx.choice(v.fac.providers[cdm.department]), self.seq.next_order())
        self.desk.queue(fs, line, post)
        v.defect = "UNDOCUMENTED_CHARGE"
        self.book.record("UNDOCUMENTED_CHARGE", v.fac.code, post, visit=v.number, cdm=cdm.code,
                         service=d)

    def after_discharge(self, fs: FacilityState, v: Visit, out: DayOut, rng: random.Random,
                        dfx: random.Random) -> None:
        """CHARGE_OUTSIDE_STAY: a documented, charged test dated the day after discharge."""
        d = out.day.date
        keys: dict[str, ExpectedKey] = {}
        cdm = dfx.choice(self.undocumented_pool)
        self._procedure(fs, v, out, cdm, cdm.department, dfx.randint(420, 1200), keys, rng, dfx,
                        status="completed", defect_ok=False)
        key = keys[cdm.code]
        key.force_lag0 = True
        key.plain = False
        self.book.record("CHARGE_OUTSIDE_STAY", v.fac.code, d, visit=v.number, cdm=cdm.code,
                         service=d)
        self._schedule(fs, v, d, keys, rng, dfx)

    # -- charges ------------------------------------------------------------------------------
    def _schedule(self, fs: FacilityState, v: Visit, d: dt.date, keys: dict[str, ExpectedKey],
                  rng: random.Random, dfx: random.Random) -> None:
        """Queue the charges of a visit day's keys (clean, corrected, withdrawn or defective)."""
        desk = self.desk
        for key in keys.values():
            lag = normal_lag(rng)
            if key.force_lag0:
                lag = 0
            if key.plain and v.free and inject_key_defect(self.book, desk, fs, v, key, d, lag,
                                                          dfx):
                continue
            post = desk.clean_key(fs, v, key, d, lag, rng)
            if key.withdrawn:
                when = max(d + DAY, post)
                if when <= self.end:
                    fs.pending_fhir.setdefault(when, []).extend(key.withdrawn)
                    desk.queue(fs, desk.key_line(v, key, d, "CD", qty=len(key.withdrawn)), when)


    # -- non-patient activity -----------------------------------------------------------------
    def facility_extras(self, fs: FacilityState, out: DayOut, rng: random.Random) -> None:
        """Floor-stock issues, receipts and cabinet counts/loads (no visit, no charge)."""
        fac = fs.fac
        md = self.md
        day = out.day
        units = [u for u in ("ED", "MED", "ICU", "PEDS") if u in fac.cost_centers]
        for _ in range(max(1, self.visits_per_day // 8)):
            item = rng.choice(md.floor_items)
            unit = rng.choice(units)
            self._issue(fs, out, rng.randint(360, 1320), item, rng.randint(5, 50),
                        fac.cost_centers[unit], "", "", "CENTRAL")
        active = [i for i in md.items if i.status == "A"]
        for _ in range(max(1, self.visits_per_day // 20)):
            item = rng.choice(active)
            out.inventory.add(f"{fs.next_inv()},{day.ts(rng.randint(420, 960))},RECEIPT,"
                              f"{item.item_id},{rng.randint(10, 200)},{item.unit},"
                              f"{money(item.unit_cost)},{fac.code},"
                              f"{rng.choice(('CENTRAL', 'OR-CORE'))},,,{CSV_EOL}")
        for unit, cabinets in fac.cabinets.items():
            nurses = fac.nurses[unit]
            for cabinet in cabinets:
                for kind in ("C", "L") if rng.random() < 0.3 else ("C",):
                    drug = rng.choice(self.md.drugs)
                    out.cabinet.add(f"{fs.next_adc()},{day.ts(rng.randint(0, 1439))},{fac.code},"
                                    f"{cabinet},{kind},,,,{drug.ndc},{drug.csv_description},"
                                    f"{rng.randint(5, 60)},{drug.unit},{rng.choice(nurses)},"
                                    f"{CSV_EOL}")
