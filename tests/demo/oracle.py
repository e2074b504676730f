"""A small, independent reference reconciliation over a demo landing directory (tests only).

It reads the landed files back (nothing from the generator's memory) and evaluates the rule
catalogue of reconciliation.md as of a run date, using only files whose extract date is on or
before that date. Findings are keyed like truth.csv, so a test can compare the two. It is a
plain-Python restatement of the spec written to check the generator, not the product's engine.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

D = dt.date.fromisoformat
ONE_DAY = dt.timedelta(days=1)
CHARGE_WINDOW, LATE_DAYS, DNFB_DAYS = 3, 3, 7
AMOUNT_TOL, GL_TOL = Decimal("0.01"), Decimal("1.00")
Key = tuple[str, ...]


def _extract(name: str) -> dt.date:
    stem = name.split(".")[0]
    ymd = stem.rsplit("_", 1)[1]
    return dt.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:8]))


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _hl7_messages(path: Path) -> list[list[list[str]]]:
    text = path.read_bytes().decode("utf-8")
    return [[seg.split("|") for seg in msg.split("\r") if seg]
            for msg in text.split("\n") if msg.strip()]


def _seg(msg: list[list[str]], name: str) -> list[list[str]]:
    return [s for s in msg if s[0] == name]


def _f(seg: list[str], n: int) -> str:
    return seg[n] if n < len(seg) else ""


def _hl7_date(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def truth_key(row: dict[str, str]) -> Key:
    """The key of a truth.csv row (every column but detectable_from)."""
    return (row["rule_id"], row["facility"], row["visit_number"], row["cdm_code"],
            row["item_or_ndc"], row["service_date"], row["cost_center"], row["natural_account"],
            row["department_code"], row["case_id"], row["transaction_id"])


def _k(rule: str, fac: str, visit: str = "", cdm: str = "", item: str = "",
       service: dt.date | None = None, cc: str = "", acct: str = "", dept: str = "",
       case: str = "", txn: str = "") -> Key:
    return (rule, fac, visit, cdm, item, service.isoformat() if service else "", cc, acct, dept,
            case, txn)


class Landing:
    """Every record of a landing directory, tagged with its extract date."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.adt: list[tuple] = []
        self.charges: list[tuple] = []
        self.procedures: list[tuple] = []
        self.meds: list[tuple] = []
        self.cases: list[tuple] = []
        self.cabinet: list[tuple] = []
        self.inventory: list[tuple] = []
        self.gl: list[tuple] = []
        self.timecards: list[tuple] = []
        self.cdm: dict[dt.date, list[dict[str, str]]] = {}
        self.items: dict[dt.date, list[dict[str, str]]] = {}
        self.deptmap: dict[dt.date, list[dict[str, str]]] = {}
        self.billing: dict[dt.date, list[dict[str, str]]] = {}
        self._load()

    def _files(self, pattern: str) -> list[Path]:
        return sorted(self.root.glob(pattern), key=lambda p: (_extract(p.name), p.name))

    def _load(self) -> None:
        for path in self._files("ehr/adt/*.hl7"):
            x = _extract(path.name)
            for msg in _hl7_messages(path):
                msh, pv1 = msg[0], _seg(msg, "PV1")[0]
                self.adt.append((x, _f(msh, 6), _f(msh, 8).split("^")[1], _f(pv1, 19),
                                 _f(pv1, 3).split("^")[3], _f(pv1, 44), _f(pv1, 45)))
        for path in self._files("ehr/charges/*.hl7"):
            x = _extract(path.name)
            for msg in _hl7_messages(path):
                pv1 = _seg(msg, "PV1")[0]
                fac, visit = _f(pv1, 3).split("^")[3], _f(pv1, 19)
                for ft1 in _seg(msg, "FT1"):
                    self.charges.append((
                        x, fac, visit, ft1[2], _hl7_date(ft1[4]), _hl7_date(ft1[5]), ft1[6],
                        ft1[7].split("^")[0], int(ft1[10]), Decimal(ft1[11]), Decimal(ft1[12]),
                        ft1[13], ft1[20], _f(ft1, 26), _f(ft1, 29)))
        for path in self._files("ehr/fhir/Procedure_*.ndjson"):
            x = _extract(path.name)
            for line in path.read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                ext = {e["url"]: e["valueString"] for e in r["extension"]}
                codes = {c["system"]: c["code"] for c in r["code"]["coding"]}
                self.procedures.append((x, r["id"], r["status"], codes["urn:chartledger:cdm"],
                                        r["encounter"]["identifier"]["value"],
                                        D(r["performedDateTime"][:10]),
                                        ext["urn:chartledger:department"],
                                        ext["urn:chartledger:facility"]))
        for path in self._files("ehr/fhir/MedicationAdministration_*.ndjson"):
            x = _extract(path.name)
            for line in path.read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                ext = {e["url"]: e["valueString"] for e in r["extension"]}
                self.meds.append((x, r["id"], r["status"],
                                  r["medicationCodeableConcept"]["coding"][0]["code"],
                                  r["context"]["identifier"]["value"],
                                  D(r["effectiveDateTime"][:10]),
                                  Decimal(str(r["dosage"]["dose"]["value"])),
                                  ext["urn:chartledger:facility"]))
        for path in self._files("ehr/cases/*.csv"):
            x = _extract(path.name)
            for r in _csv(path):
                self.cases.append((x, r["facility"], r["case_id"], r["visit_number"],
                                   r["item_id"], int(r["quantity"]), D(r["documented_at"][:10])))
        for path in self._files("pharmacy/*.csv"):
            x = _extract(path.name)
            for r in _csv(path):
                if r["txn_type"] in ("V", "R", "W"):
                    self.cabinet.append((x, r["facility"], r["visit_number"], r["ndc"],
                                         r["txn_type"], Decimal(r["quantity"]), r["witness_id"],
                                         D(r["txn_at"][:10])))
        for path in self._files("inventory/INVTXN_*.csv"):
            x = _extract(path.name)
            for r in _csv(path):
                self.inventory.append((x, r["txn_type"], r["item_id"], int(r["quantity"]),
                                       Decimal(r["unit_cost"]), r["facility"],
                                       r["department_code"], r["visit_number"], r["case_id"],
                                       D(r["txn_at"][:10]), r["txn_id"]))
        for path in self._files("erp/gl/*.ndjson"):
            x = _extract(path.name)
            for line in path.read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                self.gl.append((x, r["source"], r["account"], Decimal(r["debit"]),
                                Decimal(r["credit"]), r["reference"], r["status"],
                                D(r["accounting_date"])))
        for path in self._files("workforce/*.ndjson"):
            x = _extract(path.name)
            for line in path.read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                self.timecards.append((x, r["facility"], r["cost_center"], D(r["work_date"]),
                                       Decimal(str(r["hours"])), Decimal(r["hourly_rate"]),
                                       r["approved"]))
        for target, pattern in ((self.cdm, "master/CDM_*.csv"),
                                (self.items, "inventory/ITEMMAST_*.csv"),
                                (self.deptmap, "master/DEPTMAP_*.csv"),
                                (self.billing, "billing/ACCT_*.csv")):
            for path in self._files(pattern):
                target[_extract(path.name)] = _csv(path)

    # -- evaluation ---------------------------------------------------------------------------
    def findings(self, as_of: dt.date) -> set[Key]:
        """Every exception the catalogue reports on the run of `as_of`."""
        out: set[Key] = set()
        snap = max(d for d in self.cdm if d <= as_of)
        cdm_rows: dict[str, list[dict[str, str]]] = defaultdict(list)
        ndc_cdm: dict[str, str] = {}
        for r in self.cdm[snap]:
            cdm_rows[r["cdm_code"]].append(r)
            if r["ndc"]:
                ndc_cdm[r["ndc"]] = r["cdm_code"]

        def in_effect(code: str, day: dt.date) -> dict[str, str] | None:
            for r in cdm_rows.get(code, ()):
                if r["status"] == "A" and D(r["effective_from"]) <= day and (
                        not r["effective_to"] or day <= D(r["effective_to"])):
                    return r
            return None

        dmap = {(r["facility"], r["source_department_code"]): r["cost_center"]
                for r in self.deptmap[snap]}
        items = {r["item_id"]: r for r in self.items[snap]}

        # ADT state
        visits: dict[str, dict] = {}
        for x, _ts, event, visit, fac, admit, discharge in self.adt:
            if x > as_of:
                continue
            v = visits.setdefault(visit, {"fac": fac, "admit": _hl7_date(admit),
                                          "discharge": None, "cancelled": False})
            if event == "A03":
                v["discharge"] = _hl7_date(discharge)
            elif event == "A13":
                v["discharge"] = None
            elif event == "A11":
                v["cancelled"] = True

        latest_bill: dict[str, dict[str, str]] = {}
        for day in sorted(d for d in self.billing if d <= as_of):
            for r in self.billing[day]:
                latest_bill[r["visit_number"]] = r

        # posted charges (de-duplicated by facility and transaction id)
        lines = {}
        for rec in self.charges:
            if rec[0] <= as_of:
                lines[(rec[1], rec[3])] = rec
        expected: dict[Key, Decimal] = defaultdict(Decimal)
        posted_cg: dict[tuple, list] = defaultdict(list)
        posted_cd: dict[Key, Decimal] = defaultdict(Decimal)
        gl_posted: dict[tuple, Decimal] = defaultdict(Decimal)
        net_by_visit: dict[str, Decimal] = defaultdict(Decimal)
        charged_visits: set[str] = set()

        def master_ok(fac: str, visit: str, code: str, day: dt.date, dept: str) -> bool:
            ok = True
            if visit not in visits:
                out.add(_k("UNKNOWN_VISIT", fac, visit, code, service=day))
                ok = False
            if in_effect(code, day) is None:
                out.add(_k("UNKNOWN_CDM", fac, visit, code, service=day))
                ok = False
            if (fac, dept) not in dmap:
                out.add(_k("UNMAPPED_DEPARTMENT", fac, dept=dept))
                ok = False
            return ok

        for (fac, txn), (_x, _f2, visit, _t, svc, post, ttype, code, qty, ext, unit, dept, perf,
                         mods, _ndc) in lines.items():
            signed = ext if ttype == "CG" else -ext
            net_by_visit[visit] += signed
            charged_visits.add(visit)
            row = in_effect(code, svc)
            cc = dmap.get((fac, dept))
            if row is not None and cc is not None:
                gl_posted[(fac, post, cc, row["gl_revenue_account"])] += signed
            if ttype == "CG":
                brow = latest_bill.get(visit)
                bill = D(brow["final_bill_date"]) if brow and brow["final_bill_date"] else None
                if (post - svc).days > LATE_DAYS or (bill is not None and post > bill):
                    out.add(_k("LATE_CHARGE", fac, visit, code, service=svc, txn=txn))
                if row is not None and abs(unit - Decimal(row["unit_price"])) > AMOUNT_TOL:
                    out.add(_k("PRICE_MISMATCH", fac, visit, code, service=svc, txn=txn))
            v = visits.get(visit)
            if v is not None and (v["cancelled"] or svc < v["admit"] or (
                    v["discharge"] is not None and svc > v["discharge"])):
                out.add(_k("CHARGE_OUTSIDE_STAY", fac, visit, code, service=svc))
            if not master_ok(fac, visit, code, svc, dept):
                continue
            key = (fac, visit, code, svc.isoformat())
            if ttype == "CG":
                posted_cg[key + (str(qty), str(ext), mods, perf)].append(txn)
            else:
                posted_cd[key] += qty

        latest: dict[str, tuple] = {}
        for rec in self.procedures:
            if rec[0] <= as_of:
                latest[rec[1]] = rec
        for _x, _id, status, code, visit, day, dept, fac in latest.values():
            if status == "completed" and master_ok(fac, visit, code, day, dept):
                expected[(fac, visit, code, day.isoformat())] += 1
        admin: dict[tuple, dict[dt.date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        latest_med = {}
        for rec in self.meds:
            if rec[0] <= as_of:
                latest_med[rec[1]] = rec
        for _x, _id, status, ndc, visit, day, dose, fac in latest_med.values():
            if status != "completed":
                continue
            admin[(fac, visit, ndc)][day] += dose
            code = ndc_cdm.get(ndc, "")
            if master_ok(fac, visit, code, day, "PHARM"):
                expected[(fac, visit, code, day.isoformat())] += dose
        documented: dict[tuple, str] = {}
        for x, fac, case, visit, item, qty, day in self.cases:
            if x > as_of:
                continue
            it = items.get(item)
            if it is None:
                out.add(_k("UNMAPPED_ITEM", fac, item=item))
                continue
            documented[(fac, case, item)] = visit
            if it["chargeable"] == "Y" and master_ok(fac, visit, it["cdm_code"], day, "SURG"):
                expected[(fac, visit, it["cdm_code"], day.isoformat())] += qty

        # charge matching
        net: dict[Key, Decimal] = defaultdict(Decimal)
        for group, txns in posted_cg.items():
            key = group[:4]
            if len(txns) > 1:
                out.add(_k("DUPLICATE_CHARGE", key[0], key[1], key[2], service=D(key[3])))
            net[key] += Decimal(group[4])
        for key, qty in posted_cd.items():
            net[key] -= qty
        for key in set(expected) | set(net):
            exp, got = expected.get(key, Decimal(0)), net.get(key, Decimal(0))
            svc = D(key[3])
            if exp > 0 and got == 0:
                if as_of > svc + CHARGE_WINDOW * ONE_DAY:
                    out.add(_k("MISSING_CHARGE", key[0], key[1], key[2], service=svc))
            elif exp > 0 and got != exp:
                out.add(_k("CHARGE_QTY_MISMATCH", key[0], key[1], key[2], service=svc))
            elif exp == 0 and got > 0:
                out.add(_k("UNDOCUMENTED_CHARGE", key[0], key[1], key[2], service=svc))

        self._pharmacy(as_of, visits, admin, ndc_cdm, out)
        self._supplies(as_of, documented, out)
        self._gl(as_of, gl_posted, out)
        self._accounts(as_of, visits, latest_bill, net_by_visit, charged_visits, out)
        return out

    def _pharmacy(self, as_of: dt.date, visits: dict, admin: dict, ndc_cdm: dict,
                  out: set[Key]) -> None:
        disp: dict[tuple, dict[dt.date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for x, fac, visit, ndc, kind, qty, witness, day in self.cabinet:
            if x > as_of:
                continue
            disp[(fac, visit, ndc)][day] += qty if kind == "V" else -qty
            if kind == "W" and not witness:
                out.add(_k("WASTE_UNWITNESSED", fac, visit, item=ndc))
        for key in set(disp) | set(admin):
            days = sorted(set(disp.get(key, {})) | set(admin.get(key, {})))
            running, since = Decimal(0), None
            for day in days:
                running += disp.get(key, {}).get(day, 0) - admin.get(key, {}).get(day, 0)
                since = (since or day) if running > 0 else None
            fac, visit, ndc = key
            if running < 0:
                out.add(_k("MED_ADMINISTERED_NOT_DISPENSED", fac, visit, item=ndc))
            elif running > 0:
                discharged = visits.get(visit, {}).get("discharge")
                if discharged is not None or as_of - since > ONE_DAY:
                    out.add(_k("MED_DISPENSED_NOT_ADMINISTERED", fac, visit, item=ndc))

    def _supplies(self, as_of: dt.date, documented: dict, out: set[Key]) -> None:
        issued: dict[tuple, str] = {}
        for x, kind, item, _q, _c, fac, _cc, visit, case, _day, _txn in self.inventory:
            if x <= as_of and kind == "ISSUE" and case:
                issued[(fac, case, item)] = visit
        for (fac, case, item), visit in documented.items():
            if (fac, case, item) not in issued:
                out.add(_k("SUPPLY_NOT_RELIEVED", fac, visit, item=item, case=case))
        for (fac, case, item), visit in issued.items():
            if (fac, case, item) not in documented:
                out.add(_k("SUPPLY_NOT_DOCUMENTED", fac, visit, item=item, case=case))

    def _gl(self, as_of: dt.date, gl_posted: dict, out: set[Key]) -> None:
        revenue: dict[tuple, Decimal] = defaultdict(Decimal)
        batches: set[tuple[str, dt.date]] = set()
        inventory: dict[tuple, Decimal] = defaultdict(Decimal)
        payroll: dict[tuple, Decimal] = defaultdict(Decimal)
        for x, source, account, debit, credit, ref, status, acc_date in self.gl:
            if x > as_of:
                continue
            _entity, cc, natural, _sub = account.split("-")
            if source == "REVENUE_INTERFACE" and status == "POSTED":
                fac, ymd = ref.rsplit("-", 1)
                day = _hl7_date(ymd)
                batches.add((fac, day))
                revenue[(fac, day, cc, natural)] += credit - debit
            elif source == "INVENTORY":
                inventory[(cc, acc_date)] += debit - credit
            elif source == "PAYROLL":
                payroll[(cc, _hl7_date(ref[4:]))] += debit - credit
        days_with_charges = {(k[0], k[1]) for k in gl_posted}
        for fac, day in days_with_charges:
            if (fac, day) not in batches:
                if as_of >= day + 2 * ONE_DAY:
                    out.add(_k("GL_UNPOSTED_BATCH", fac, service=day))
                continue
        for key in set(gl_posted) | set(revenue):
            fac, day, cc, acct = key
            if (fac, day) in batches and abs(gl_posted.get(key, 0) - revenue.get(key, 0)) > GL_TOL:
                out.add(_k("GL_REVENUE_VARIANCE", fac, cc=cc, acct=acct, service=day))
        issue_cost: dict[tuple, Decimal] = defaultdict(Decimal)
        cc_fac = {}
        for x, kind, _item, qty, cost, fac, cc, _v, _case, day, _txn in self.inventory:
            if x <= as_of and kind == "ISSUE":
                issue_cost[(cc, day)] += qty * cost
                cc_fac[cc] = fac
        for key in set(issue_cost) | set(inventory):
            if abs(issue_cost.get(key, 0) - inventory.get(key, 0)) > GL_TOL:
                out.add(_k("GL_INVENTORY_VARIANCE", cc_fac[key[0]], cc=key[0], acct="6200",
                           service=key[1]))
        labor: dict[tuple, Decimal] = defaultdict(Decimal)
        first_end = dt.date(2026, 1, 10)
        for x, fac, cc, work, hours, rate, approved in self.timecards:
            if x <= as_of and approved:
                end = first_end + dt.timedelta(days=14 * -(-(work - first_end).days // 14))
                labor[(fac, cc, end)] += hours * rate
        for (fac, cc, end), cost in labor.items():
            if end < as_of and abs(cost - payroll.get((cc, end), 0)) > GL_TOL:
                out.add(_k("LABOR_GL_VARIANCE", fac, cc=cc, acct="5010", service=end))

    def _accounts(self, as_of: dt.date, visits: dict, latest: dict[str, dict[str, str]],
                  net_by_visit: dict, charged: set[str], out: set[Key]) -> None:
        for visit, r in latest.items():
            if abs(Decimal(r["total_charges"]) - net_by_visit.get(visit, 0)) > AMOUNT_TOL:
                out.add(_k("ACCOUNT_TOTAL_MISMATCH", r["facility"], visit))
        for visit, v in visits.items():
            if v["cancelled"] or v["discharge"] is None:
                continue
            r = latest.get(visit)
            if as_of > v["discharge"] + DNFB_DAYS * ONE_DAY and not (r and r["final_bill_date"]):
                out.add(_k("DISCHARGED_NOT_FINAL_BILLED", v["fac"], visit))
        for visit in charged:
            if visit in visits and visit not in latest:
                out.add(_k("ENCOUNTER_NO_ACCOUNT", visits[visit]["fac"], visit))
