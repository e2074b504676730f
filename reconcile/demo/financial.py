"""Financial side of the demo: charge posting (DFT), billing accounts, GL journals and timecards.

GL journals carry only the operating side of each interface (revenue credits, inventory and
labor expense debits); the balancing lines (receivables, inventory asset, accrued payroll) are
not in the extract. Sources:

- REVENUE_INTERFACE: one batch per facility and posting date P (`reference` `<FAC>-<YYYYMMDD>`),
  one line per cost center and revenue account with credit = net posted charges that map
  (department -> cost center through the department map of FT1-13, code -> `gl_revenue_account`
  of the chargemaster row in effect on the service date); posted at P 23:50, landed in the GL
  file of P + 1 (so the last posting date's batch is not yet landed at the end of the range).
- INVENTORY: one debit line per inventory ISSUE (`reference` = txn_id, account
  `<entity>-<cost center>-6200-00`, debit = quantity x unit cost), accounting date = issue date,
  landed in the GL file of the issue date (the ERP's own inventory module posts in real time).
- PAYROLL: one debit line per cost center and pay period end E (`reference` `PAY-<YYYYMMDD>`,
  account `<entity>-<cost center>-5010-00`) = approved timecards' hours x hourly rate of the
  period, rounded once; landed in the GL file of E + 1.

Timecards of work date W land in the TIMECARDS file of W + 1 (pulled the next morning).
Billing accounts are a full daily snapshot of open, DNFB and recently billed accounts (kept 14
days after the final bill date); `total_charges` = net of every posted line of the visit so far.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal

from . import catalog
from .defects import DefectBook
from .masterdata import CdmEntry, MasterData
from .model import ZERO, ChargeLine, FacilityState, Sequences
from .writers import CSV_EOL, DateCache, DateText, FeedFile, hl7_escape, money

DAY = dt.timedelta(days=1)
FIRST_PAY_PERIOD_END = dt.date(2026, 1, 10)
_CENT = Decimal("0.01")
_MIN_DROP = Decimal("5.00")  # a dropped GL line must exceed gl_tolerance by a margin
_GL = ('{"journal_id":"%s","line_number":%d,"ledger":"PRIMARY","period":"%s",'
       '"accounting_date":"%s","posted_at":%s,"status":"%s","source":"%s","account":"%s",'
       '"debit":"%s","credit":"%s","currency":"USD","reference":"%s","description":"%s",'
       '"updated_at":"%s"}\n')
_TC = ('{"timecard_id":"%s","employee_id":"%s","facility":"%s","cost_center":"%s",'
       '"work_date":"%s","pay_code":"%s","hours":%s,"hourly_rate":"%s","approved":%s,'
       '"updated_at":"%s"}\n')


def pay_period_end(day: dt.date, first_end: dt.date = FIRST_PAY_PERIOD_END) -> dt.date:
    """End (a Saturday) of the two-week pay period containing `day`."""
    k = -(-(day - first_end).days // 14)
    return first_end + dt.timedelta(days=14 * k)


def _gl_line(journal: str, number: int, accounting: str, posted_at: str | None, status: str,
             source: str, account: str, net_credit: Decimal, reference: str, description: str,
             updated_at: str) -> str:
    """One GL journal-line API item; `net_credit` < 0 is written as a debit."""
    debit, credit = (ZERO, net_credit) if net_credit >= 0 else (-net_credit, ZERO)
    posted = f'"{posted_at}"' if posted_at else "null"
    return _GL % (journal, number, accounting[:7], accounting, posted, status, source, account,
                  money(debit), money(credit), reference, description, updated_at)


class Ledger:
    """Posts queued charges, snapshots accounts, writes GL lines and timecards."""

    def __init__(self, md: MasterData, seq: Sequences, book: DefectBook, start: dt.date) -> None:
        self.md, self.seq, self.book = md, seq, book
        self.start, self.end = start, book.end
        self.dates = DateCache()
        self.unknown_visit_pool: list[CdmEntry] = md.procedures["LAB"] + md.procedures["IMG"]

    # -- charges ------------------------------------------------------------------------------
    def post_day(self, fs: FacilityState, day: DateText, dft: FeedFile,
                 dfx: random.Random) -> None:
        """Write today's DFT messages (one per visit) and book them to accounts and GL."""
        d = day.date
        lines = fs.pending.pop(d, None) or []
        groups: dict[str, list[ChargeLine]] = {}
        for line in lines:
            groups.setdefault(line.visit.number, []).append(line)
        acc = fs.gl_revenue.setdefault(d, {})
        fac = fs.fac.code
        stamp = f"{day.compact}2300"
        head = f"|P|2.5.1\rEVN|P03|{stamp}\r"
        book = self.book
        for number in sorted(groups):
            group = groups[number]
            v = group[0].visit
            segs = [f"MSH|^~\\&|EHR|{fac}|CHARTLEDGER|{fac}|{stamp}||DFT^P03|{fs.next_dft()}{head}"
                    f"{v.pid}\r{v.pv1}"]
            for i, line in enumerate(group, 1):
                txn = fs.next_txn()
                segs.append(self._ft1(i, txn, line, day))
                signed = line.ext if line.ttype == "CG" else -line.ext
                v.posted_total += signed
                if v.account_mismatch_pending and line.ttype == "CG":
                    v.account_mismatch_pending = False
                    v.billing_offset -= line.ext
                    book.record("ACCOUNT_TOTAL_MISMATCH", fac, d, visit=number)
                if v.no_account_pending:
                    v.no_account_pending = False
                    book.record("ENCOUNTER_NO_ACCOUNT", fac, d, visit=number)
                if line.gl is not None:
                    acc[line.gl] = acc.get(line.gl, ZERO) + signed
                if line.truth_rule is not None:
                    book.record(line.truth_rule, fac, d, visit=number, cdm=line.cdm.code,
                                service=line.service, txn=txn)
            dft.add("\r".join(segs) + "\n")
            if book.roll(dfx, "UNKNOWN_VISIT"):
                dft.add(self._unknown_visit_message(fs, day, stamp, head, acc, dfx))

    def _ft1(self, i: int, txn: str, line: ChargeLine, day: DateText) -> str:
        svc = self.dates[line.service].compact
        return (f"FT1|{i}|{txn}||{svc}|{day.compact}|{line.ttype}|{line.cdm.ft1_code}|||"
                f"{line.qty}|{money(line.ext)}|{money(line.unit)}|{hl7_escape(line.dept)}"
                f"|||||||{line.perf}|{line.ordering}||{line.order_no}||{line.cdm.cpt_hcpcs}|"
                f"{line.modifiers}|||{line.ndc}")

    def _unknown_visit_message(self, fs: FacilityState, day: DateText, stamp: str, head: str,
                               acc: dict[tuple[str, str], Decimal], dfx: random.Random) -> str:
        """UNKNOWN_VISIT: a DFT message for a visit number that ADT never sent."""
        fac = fs.fac
        d = day.date
        number = fs.next_unknown_visit()
        cdm = dfx.choice(self.unknown_visit_pool)
        npi = dfx.choice(fac.providers[cdm.department])
        last = dfx.choice(catalog.LAST_NAMES)
        first = dfx.choice(catalog.FIRST_NAMES_F + catalog.FIRST_NAMES_M)
        price = cdm.price_on(d)
        txn = fs.next_txn()
        order_no = self.seq.next_order()
        cc = fac.cost_centers[cdm.department]
        acc[(cc, cdm.gl_account)] = acc.get((cc, cdm.gl_account), ZERO) + price
        self.book.record("UNKNOWN_VISIT", fac.code, d, visit=number, cdm=cdm.code, service=d)
        return (f"MSH|^~\\&|EHR|{fac.code}|CHARTLEDGER|{fac.code}|{stamp}||DFT^P03|{fs.next_dft()}"
                f"{head}PID|1||{self.seq.next_mrn()}^^^{fac.code}^MR||{hl7_escape(last)}^"
                f"{first}||19800101|U||||||||||{self.seq.next_account()}\r"
                f"PV1|1|O|{cdm.department}^^^{fac.code}||||{npi}|||{cdm.department}|||||||||"
                f"{number}\rFT1|1|{txn}||{day.compact}|{day.compact}|CG|{cdm.ft1_code}|||1|"
                f"{money(price)}|{money(price)}|{cdm.department}|||||||{npi}|{npi}||{order_no}||"
                f"{cdm.cpt_hcpcs}||||\n")

    # -- billing ------------------------------------------------------------------------------
    def billing_rows(self, fs: FacilityState, day: DateText, out: FeedFile) -> None:
        """Append the facility's accounts to today's billing snapshot; forget expired ones."""
        d = day.date
        fac = fs.fac.code
        gone = []
        for v in fs.visits.values():
            if v.retire_date is not None and d > v.retire_date:
                gone.append(v.number)
                continue
            if v.cancelled:
                status, discharge, bill = "CLOSED", "", ""
            else:
                discharged = d >= v.discharge_date
                billed = v.final_bill_date is not None and d >= v.final_bill_date
                discharge = self.dates[v.discharge_date].iso if discharged else ""
                bill = self.dates[v.final_bill_date].iso if billed else ""  # type: ignore[index]
                status = "BILLED" if billed else ("DNFB" if discharged else "OPEN")
            out.add(f"{v.number},{fac},{v.patient.mrn},{v.account},{v.pclass},"
                    f"{self.dates[v.admit_date].iso},{discharge},{status},{bill},"
                    f"{money(v.posted_total + v.billing_offset)}{CSV_EOL}")
        for number in gone:
            del fs.visits[number]

    # -- GL -----------------------------------------------------------------------------------
    def gl_day(self, fs: FacilityState, day: DateText, gl: FeedFile,
               issues: list[tuple[str, str, Decimal]], dfx: random.Random) -> None:
        """Land yesterday's revenue batch, today's inventory lines and a closed period's payroll."""
        d = day.date
        self._revenue_batch(fs, d - DAY, d, gl, dfx)
        self._inventory(fs, day, gl, issues, dfx)
        period_end = d - DAY
        if period_end >= self.start and pay_period_end(period_end) == period_end:
            self._payroll(fs, period_end, day, gl, dfx)

    def _revenue_batch(self, fs: FacilityState, posted: dt.date, d: dt.date, gl: FeedFile,
                       dfx: random.Random) -> None:
        batch = fs.gl_revenue.pop(posted, None)
        if not batch:
            return
        lines = [(key, amount) for key, amount in sorted(batch.items()) if amount != 0]
        if not lines:
            return
        fac = fs.fac
        book = self.book
        pt = self.dates[posted]
        status = "POSTED"
        if posted + 2 * DAY <= self.end and book.roll(dfx, "GL_UNPOSTED_BATCH"):
            book.record("GL_UNPOSTED_BATCH", fac.code, posted + 2 * DAY, service=posted)
            if dfx.random() < 0.5:
                return
            status = "UNPOSTED"
        else:
            lines = self._tamper(lines, "GL_REVENUE_VARIANCE", fac.code, d, posted, dfx,
                                 can_drop=len(lines) > 1, low=5, high=250)
        journal = f"JE-REV-{fac.code}-{pt.compact}"
        stamp = f"{pt.iso}T23:50:00"
        for n, ((cc, acct), amount) in enumerate(lines, 1):
            gl.add(_gl_line(journal, n, pt.iso, stamp if status == "POSTED" else None, status,
                            "REVENUE_INTERFACE", fac.account(cc, acct), amount,
                            f"{fac.code}-{pt.compact}", "Daily revenue interface", stamp))

    def _tamper(self, lines: list[tuple[tuple[str, str], Decimal]], rule: str, fac: str,
                detect: dt.date, when: dt.date, dfx: random.Random, can_drop: bool, low: int,
                high: int) -> list[tuple[tuple[str, str], Decimal]]:
        """Per line, maybe shift its amount (or drop it) and record the variance."""
        out = []
        for (cc, acct), amount in lines:
            if not self.book.roll(dfx, rule):
                out.append(((cc, acct), amount))
                continue
            self.book.record(rule, fac, detect, cc=cc, account=acct, service=when)
            if can_drop and dfx.random() < 0.3 and abs(amount) > _MIN_DROP:
                continue
            delta = Decimal(dfx.randint(low * 100, high * 100)) / 100
            size = abs(amount)
            size = size - delta if dfx.random() < 0.5 and size - delta > 0 else size + delta
            out.append(((cc, acct), size if amount >= 0 else -size))
        return out

    def _inventory(self, fs: FacilityState, day: DateText, gl: FeedFile,
                   issues: list[tuple[str, str, Decimal]], dfx: random.Random) -> None:
        if not issues:
            return
        fac = fs.fac
        acct = catalog.INVENTORY_EXPENSE_ACCOUNT
        by_cc: dict[str, list[int]] = {}
        for i, (cc, _txn, _cost) in enumerate(issues):
            by_cc.setdefault(cc, []).append(i)
        change: dict[int, Decimal | None] = {}
        for cc in sorted(by_cc):
            if self.book.roll(dfx, "GL_INVENTORY_VARIANCE"):
                i = dfx.choice(by_cc[cc])
                cost = issues[i][2]
                if dfx.random() < 0.3 and cost > _MIN_DROP:
                    change[i] = None
                else:
                    delta = Decimal(dfx.randint(500, 25000)) / 100
                    change[i] = cost - delta if cost - delta > 0 and dfx.random() < 0.5 \
                        else cost + delta
                self.book.record("GL_INVENTORY_VARIANCE", fac.code, day.date, cc=cc,
                                 account=acct, service=day.date)
        journal = f"JE-INV-{fac.code}-{day.compact}"
        stamp = f"{day.iso}T23:55:00"
        n = 0
        for i, (cc, txn, cost) in enumerate(issues):
            if i in change:
                if change[i] is None:
                    continue
                cost = change[i]  # type: ignore[assignment]
            n += 1
            gl.add(_gl_line(journal, n, day.iso, stamp, "POSTED", "INVENTORY",
                            fac.account(cc, acct), -cost, txn, "Inventory issue", stamp))

    def _payroll(self, fs: FacilityState, period_end: dt.date, day: DateText, gl: FeedFile,
                 dfx: random.Random) -> None:
        fac = fs.fac
        acct = catalog.SALARY_EXPENSE_ACCOUNT
        lines = []
        for cc in sorted(fac.rosters):
            cost = fs.payroll.pop((cc, period_end), None)
            if cost:
                lines.append(((cc, acct), -cost.quantize(_CENT, rounding=ROUND_HALF_UP)))
        pe = self.dates[period_end]
        lines = self._tamper(lines, "LABOR_GL_VARIANCE", fac.code, day.date, period_end, dfx,
                             can_drop=True, low=25, high=900)
        journal = f"JE-PAY-{fac.code}-{pe.compact}"
        stamp = f"{day.iso}T05:00:00"
        for n, ((cc, _acct), amount) in enumerate(lines, 1):
            gl.add(_gl_line(journal, n, pe.iso, stamp, "POSTED", "PAYROLL",
                            fac.account(cc, acct), amount, f"PAY-{pe.compact}",
                            f"Payroll period ending {pe.iso}", stamp))

    # -- timecards ----------------------------------------------------------------------------
    def timecards(self, fs: FacilityState, work: dt.date, day: DateText, out: FeedFile,
                  rng: random.Random) -> None:
        """Land the facility's timecards of work date `work` (pulled on `day`)."""
        fac = fs.fac
        wd = self.dates[work].iso
        updated = f"{day.iso}T06:10:00"
        period = pay_period_end(work)
        payroll = fs.payroll
        for cc, roster in fac.rosters.items():
            total = ZERO
            for emp in roster:
                cards = []
                p_work = 0.5 if emp.shift_hours >= 12 else (0.57 if emp.shift_hours >= 10 else 0.71)
                r = rng.random()
                if r < p_work:
                    cards.append(("REG", emp.shift_hours, emp.rate))
                    if rng.random() < 0.08:
                        ot_rate = (emp.rate * Decimal("1.5")).quantize(_CENT, ROUND_HALF_UP)
                        cards.append(("OT", rng.choice((1.5, 2.0, 2.5, 4.0)), ot_rate))
                    if cc == fac.cost_centers.get("SURG") and rng.random() < 0.05:
                        cards.append(("CALL", 4.0, emp.rate))
                elif r < p_work + 0.03:
                    cards.append(("PTO", 8.0, emp.rate))
                for code, hours, rate in cards:
                    approved = rng.random() >= 0.015
                    out.add(_TC % (fs.next_timecard(), emp.employee_id, fac.code, cc, wd, code,
                                   hours, money(rate), "true" if approved else "false", updated))
                    if approved:
                        total += Decimal(str(hours)) * rate
            if total:
                payroll[(cc, period)] = payroll.get((cc, period), ZERO) + total
