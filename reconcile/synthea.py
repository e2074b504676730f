"""Synthea as a source: load a Synthea v3 CSV export and reconcile its charge capture.

A Synthea export is an EHR and a billing system at once. This adapter reads it with DuckDB's CSV
reader (every column as text, then typed explicitly: amounts DECIMAL(18,2), never floats) and
writes it into the *staging* tables the rule engine already reads, so the ordinary rules judge it:

- ``encounters.csv`` -> ``staging.adt_events``: an A01 (admit = START) and, when STOP is given, an
  A03 (discharge = STOP) per encounter; visit number = encounter ``Id``; patient class from
  ENCOUNTERCLASS (inpatient -> I, emergency -> E, anything else -> O); hospital service = the
  encounter class.
- documented items -> ``staging.procedures`` (status ``completed``, CDM code = the Synthea code,
  quantity 1 each): the encounter's own code (Synthea bills every encounter under its code), every
  procedure, every medication order and every immunization. A medication is an *order*; Synthea
  charges it once (one CHARGE line, UNITS = 1, priced at the order's BASE_COST, or 0.00 for
  orders it does not bill again), however many DISPENSES it has, so an order documents quantity 1.
  Resource id = ``<file stem>:<row number>`` (e.g. ``medications:17``), so every exception's
  ``source_refs`` lead back to a line of the export.
- ``claims_transactions.csv`` lines with TYPE = CHARGE -> ``staging.charges`` (``CG``):
  transaction id = ID, visit = APPOINTMENTID, CDM code = PROCEDURECODE, service and post date =
  the date of FROMDATE, quantity = UNITS, unit amount = UNITAMOUNT, extended amount = AMOUNT,
  modifiers = MODIFIER1~MODIFIER2, department = ``SYNTHEA``, performing provider NULL. Payments,
  transfers and adjustments are not charges and are not loaded.
- master data the export does not have, derived from it: a chargemaster with one row per code
  seen on either side (every code in the export is billable: Synthea charges all it documents),
  priced at the code's latest non-zero observed UNITAMOUNT (else the documented BASE_COST, else
  0.00), effective from the code's first service date, status ``A``, revenue account ``4000``; and
  a department map giving the one department ``SYNTHEA`` a cost center at every organization of
  ``organizations.csv``.

Facilities: one per Synthea organization, coded as the first 8 letters/digits of its id,
upper-cased (e.g. ``E002090D``). Encounters take their ORGANIZATION's code, charges their own
PLACEOFSERVICE's (which is the encounter's organization throughout Synthea), documented items the
code of their encounter (``UNKNOWN`` when the encounter is not in the export). An organization
missing from ``organizations.csv`` has no department-map row, so its records are reported as
``UNMAPPED_DEPARTMENT`` (one master-data root cause) instead of being matched.

Time: Synthea timestamps are UTC (``2023-01-27T16:17:47Z``). They are stored as naive UTC
timestamps and the service date is their UTC date part, on both sides alike, so an evening visit
in Massachusetts counts on the next (UTC) day for documentation and charge alike.

One export is one batch: every row gets the same extract date (the evaluation date, below) and a
load run id ``synthea-<digest of the export's files>`` (the same export always loads the same
rows). The charge-capture rules (MISSING_CHARGE, UNDOCUMENTED_CHARGE, CHARGE_QTY_MISMATCH,
DUPLICATE_CHARGE and the master-data rules they defer to: UNKNOWN_CDM, UNKNOWN_VISIT,
UNMAPPED_DEPARTMENT) are then evaluated once, as of the last service date + charge window + 1,
with a rolling window that reaches back to the first service date, so every item of the export is
judged and none is still pending.

The warehouse holds one Synthea export. A new file is created; an existing warehouse is replaced
only when it holds nothing but a previous Synthea load (its contents are cleared, the audit trail
ops.run_log is kept); a warehouse holding any other data (landed files, nightly staging rows,
foreign tables) is refused, so the adapter can never mix synthetic data into a real warehouse.
Rows the adapter cannot read (a missing key, an unparseable date or amount) make it refuse the
whole export, naming the file, column and rows, rather than load part of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from reconcile.audit import StepAudit
from reconcile.config import ConfigError, Thresholds, validate_facility, validate_identifier
from reconcile.landing import sha256_of
from reconcile.pipeline import refresh_canonical
from reconcile.rules import evaluate_day, load_catalogue
from reconcile.sqlfiles import execute_template, query_sql_file, run_sql_file
from reconcile.warehouse import Warehouse, apply_ddl, rollback

log = logging.getLogger(__name__)

DEPARTMENT = "SYNTHEA"          # the one EHR department every Synthea record is charged under
COST_CENTER = "SYNTHEA"
REVENUE_ACCOUNT = "4000"
UNKNOWN_FACILITY = "UNKNOWN"    # documented items whose encounter is not in the export
RUN_PREFIX = "synthea-"
AUDIT_STEP = "synthea"
# The values above that the SQL of sql/synthea/ uses, bound as parameters (never formatted in).
CONSTANTS = {"department": DEPARTMENT, "cost_center": COST_CENTER, "revenue_account": REVENUE_ACCOUNT,
             "unknown_facility": UNKNOWN_FACILITY}

# The charge-capture rules, and the master-data rules they defer to (one root cause, one exception).
SYNTHEA_RULES = ("UNKNOWN_CDM", "UNKNOWN_VISIT", "UNMAPPED_DEPARTMENT", "MISSING_CHARGE",
                 "CHARGE_QTY_MISMATCH", "UNDOCUMENTED_CHARGE", "DUPLICATE_CHARGE")

# Files read, and the columns the adapter uses from each.
FILES: dict[str, tuple[str, ...]] = {
    "organizations": ("Id",),
    "encounters": ("Id", "START", "STOP", "PATIENT", "ORGANIZATION", "ENCOUNTERCLASS", "CODE",
                   "DESCRIPTION", "BASE_ENCOUNTER_COST"),
    "procedures": ("START", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST"),
    "medications": ("START", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST"),
    "immunizations": ("DATE", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST"),
    "claims_transactions": ("ID", "CLAIMID", "PATIENTID", "TYPE", "AMOUNT", "FROMDATE",
                            "PLACEOFSERVICE", "PROCEDURECODE", "MODIFIER1", "MODIFIER2", "UNITS",
                            "NOTES", "UNITAMOUNT", "APPOINTMENTID"),
}

# What each loaded row must hold: (file, column, kind), checked by sql/synthea/check_column.sql.
# Kinds: text (present), ts (a Synthea timestamp or date), money (a decimal with at most 2 places),
# qty (a positive number); a trailing ? means the value may be empty.
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("encounters", "Id", "text"),
    ("encounters", "START", "ts"),
    ("encounters", "STOP", "ts?"),
    ("encounters", "CODE", "text"),
    ("encounters", "PATIENT", "text"),
    ("procedures", "ENCOUNTER", "text"),
    ("procedures", "CODE", "text"),
    ("procedures", "START", "ts"),
    ("medications", "ENCOUNTER", "text"),
    ("medications", "CODE", "text"),
    ("medications", "START", "ts"),
    ("immunizations", "ENCOUNTER", "text"),
    ("immunizations", "CODE", "text"),
    ("immunizations", "DATE", "ts"),
    ("claims_transactions", "ID", "text"),
    ("claims_transactions", "APPOINTMENTID", "text"),
    ("claims_transactions", "PROCEDURECODE", "text"),
    ("claims_transactions", "FROMDATE", "ts"),
    ("claims_transactions", "UNITS", "qty"),
    ("claims_transactions", "AMOUNT", "money"),
    ("claims_transactions", "UNITAMOUNT", "money?"),
)
# The rows of a file that are loaded, hence checked: all of temp table syn_<file>, except for
# claims_transactions.csv, whose TYPE = 'CHARGE' lines only (view of sql/synthea/charge_rows.sql).
CHECKED_ROWS = {"claims_transactions": "syn_charge_rows"}

CHARTLEDGER_SCHEMAS = ("raw", "staging", "canonical", "recon", "report", "ops")
DERIVED_SCHEMAS = ("canonical", "recon", "report")  # rebuilt from staging: never foreign data


class SyntheaError(ConfigError):
    """A Synthea export, or a target warehouse, that the adapter refuses to use."""


@dataclass(frozen=True)
class SyntheaRun:
    """What one load-and-reconcile of an export did."""

    warehouse: Path
    run_id: str
    load_date: dt.date            # the extract date of every row, and the evaluation date
    first_service_date: dt.date
    last_service_date: dt.date
    rolling_window_days: int
    facilities: int
    visits: int
    documented_items: int
    charge_lines: int
    chargemaster_codes: int
    found: dict[str, int] = field(default_factory=dict)          # findings of the evaluation
    open_by_rule: dict[str, int] = field(default_factory=dict)   # open exceptions by rule


def reconcile_synthea(export_dir: Path, warehouse_path: Path) -> dict[str, int]:
    """Load a Synthea CSV export into a (fresh or replaced) warehouse and run the charge-capture
    rules over its whole date range; counts of open exceptions by rule."""
    return run_synthea(export_dir, warehouse_path).open_by_rule


def run_synthea(export_dir: Path, warehouse_path: Path,
                thresholds: Thresholds | None = None) -> SyntheaRun:
    """`reconcile_synthea`, returning everything it did (counts loaded, dates, open exceptions)."""
    export_dir = Path(export_dir)
    base = thresholds or Thresholds()
    if not export_dir.is_dir():
        raise SyntheaError(f"Synthea export folder {export_dir} does not exist")
    paths = {name: export_dir / f"{name}.csv" for name in FILES}
    absent = [p.name for p in paths.values() if not p.is_file()]
    if absent:
        raise SyntheaError(f"{export_dir} is not a Synthea CSV export: {', '.join(absent)} missing")
    inputs = [{"file": p.name, "sha256": sha256_of(p)} for p in paths.values()]
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    run_id = RUN_PREFIX + digest
    audit = StepAudit(run_id, None, AUDIT_STEP, "synthea")

    rules = [r for r in load_catalogue() if r.rule_id in SYNTHEA_RULES]
    if len(rules) != len(SYNTHEA_RULES):
        raise SyntheaError("the rule catalogue lacks some charge-capture rule: "
                           + ", ".join(sorted(set(SYNTHEA_RULES) - {r.rule_id for r in rules})))
    with ExitStack() as stack:
        try:
            con = stack.enter_context(Warehouse(warehouse_path).writer())
        except duckdb.IOException as exc:
            raise SyntheaError(f"{warehouse_path} cannot be opened as a DuckDB warehouse: {exc}") from exc
        _refuse_foreign_data(con, warehouse_path)
        # read and check the whole export (into temp tables) before the warehouse is touched
        rows = _read_export(con, paths)
        apply_ddl(con)
        for item in inputs:
            item["rows"] = rows[item["file"].removesuffix(".csv")]
        first, last = _service_range(con)
        as_of = last + dt.timedelta(days=base.charge_window_days + 1)
        window = (last - first).days + 1 + base.charge_window_days + 1
        params = {"extract_date": as_of, "run_id": run_id, **CONSTANTS}
        con.execute("BEGIN TRANSACTION")
        try:
            _clear(con)
            for step in ("load_adt", "load_procedures", "load_charges", "build_chargemaster",
                         "build_department_map"):
                run_sql_file(con, f"synthea/{step}.sql", params)
            loaded = _loaded_counts(con)
            con.execute("COMMIT")
        except BaseException:
            rollback(con)
            raise
        refresh_canonical(con)
        found = evaluate_day(con, as_of, replace(base, rolling_window_days=window), rules=rules)
        open_rows = dict(query_sql_file(con, "synthea/open_by_rule.sql",
                                        {"rules": list(SYNTHEA_RULES)}).fetchall())
        open_by_rule = {r.rule_id: int(open_rows.get(r.rule_id, 0)) for r in rules}
        audit.inputs = inputs
        audit.outputs = {**loaded, **{f"open.{k}": v for k, v in open_by_rule.items()}}
        audit.write(con)
    log.info("synthea %s: %s as of %s", export_dir, open_by_rule, as_of)
    return SyntheaRun(
        warehouse=Path(warehouse_path), run_id=run_id, load_date=as_of, first_service_date=first,
        last_service_date=last, rolling_window_days=window, facilities=loaded["facilities"],
        visits=loaded["visits"], documented_items=loaded["documented_items"],
        charge_lines=loaded["charge_lines"], chargemaster_codes=loaded["chargemaster_codes"],
        found=found, open_by_rule=open_by_rule)


def facility_code(org_id: str) -> str:
    """The facility code of a Synthea organization: its first 8 letters/digits, upper-cased."""
    code = re.sub(r"[^A-Z0-9]", "", org_id.upper())[:8]
    try:
        return validate_facility(code)
    except ConfigError:
        raise SyntheaError(f"organization id {org_id!r} gives no facility code") from None


def _read_export(con: duckdb.DuckDBPyConnection, paths: dict[str, Path]) -> dict[str, int]:
    """Read every file as text into temp tables syn_<name> (with its 1-based data row number),
    check what will be loaded, and build the derived temp tables; rows read per file."""
    run_sql_file(con, "synthea/session.sql")
    rows = {}
    for name, path in paths.items():
        table, text = f"syn_{name}", f"syn_{name}_text"
        execute_template(con, "synthea/read_csv.sql", {"table": text}, {"path": str(path)})
        columns = _columns(con, "temp", "main", text)
        lacking = [c for c in FILES[name] if c not in columns]
        if lacking:
            raise SyntheaError(f"{path.name} lacks column(s) {', '.join(lacking)}")
        # numbered outside any transaction (see number_rows.sql): hence read before BEGIN
        execute_template(con, "synthea/number_rows.sql", {"table": table, "source": text})
        execute_template(con, "synthea/drop_table.sql", {"table": text})
        count, first, last = execute_template(con, "synthea/row_range.sql", {"table": table}).fetchone()
        if count and (first, last) != (1, count):
            raise SyntheaError(f"{path.name}: could not number its rows ({first}..{last} for "
                               f"{count} rows)")
        rows[name] = count
    run_sql_file(con, "synthea/charge_rows.sql")
    problems = []
    for name, column, kind in CHECKS:
        count, sample = execute_template(
            con, "synthea/check_column.sql",
            {"table": CHECKED_ROWS.get(name, f"syn_{name}"), "column": column},
            {"kind": kind.removesuffix("?"), "required": not kind.endswith("?")}).fetchone()
        if count:
            problems.append(f"{name}.csv {column}: {count} row(s) unreadable or empty "
                            f"(data rows {', '.join(map(str, sample))}…)")
    duplicated = query_sql_file(con, "synthea/duplicate_encounters.sql").fetchone()[0]
    if duplicated:
        problems.append(f"encounters.csv: {duplicated} encounter id(s) appear more than once")
    if problems:
        raise SyntheaError("the Synthea export cannot be loaded: " + "; ".join(problems))
    _build_facilities(con)
    run_sql_file(con, "synthea/build_documented.sql")
    run_sql_file(con, "synthea/build_charge_lines.sql", CONSTANTS)
    return rows


def _columns(con: duckdb.DuckDBPyConnection, database: str | None, schema: str,
             table: str) -> set[str]:
    return {r[0] for r in query_sql_file(con, "synthea/table_columns.sql",
                                         {"database": database, "schema": schema, "table": table}
                                         ).fetchall()}


def _build_facilities(con: duckdb.DuckDBPyConnection) -> None:
    org_ids = [r[0] for r in query_sql_file(con, "synthea/organization_ids.sql").fetchall()]
    codes: dict[str, str] = {}
    for org_id in org_ids:
        code = facility_code(org_id)
        if code in codes and codes[code] != org_id:
            raise SyntheaError(f"organizations {codes[code]} and {org_id} share the facility "
                               f"code {code}")
        codes[code] = org_id
    run_sql_file(con, "synthea/build_facilities.sql",
                 {"org_ids": list(codes.values()), "facilities": list(codes)})


def _service_range(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date]:
    first, last = query_sql_file(con, "synthea/service_range.sql").fetchone()
    if first is None:
        raise SyntheaError("the Synthea export documents and charges nothing")
    return first, last


def _loaded_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    cur = query_sql_file(con, "synthea/loaded_counts.sql")
    row = cur.fetchone()
    return {d[0]: int(v) for d, v in zip(cur.description, row, strict=True)}


def _base_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return query_sql_file(con, "synthea/base_tables.sql").fetchall()


def _refuse_foreign_data(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Raise unless the warehouse is empty or holds only a previous Synthea load."""
    foreign = []
    for schema, table in _base_tables(con):
        # ChartLedger names its tables with plain identifiers: a table named otherwise is not its
        # own, even in its schemas (and could not be named in the SQL that clears them)
        if schema not in CHARTLEDGER_SCHEMAS or not _is_identifier(table):
            foreign.append(f"{schema}.{table}")
            continue
        if schema in DERIVED_SCHEMAS:
            continue
        name = {"schema": schema, "table": table}
        if (schema, table) == ("ops", "run_log"):
            cur = query_sql_file(con, "synthea/foreign_run_log_rows.sql", {"audit_step": AUDIT_STEP})
        elif "load_run_id" in _columns(con, None, schema, table):
            cur = execute_template(con, "synthea/foreign_loaded_rows.sql", name,
                                   {"run_prefix": RUN_PREFIX})
        else:
            cur = execute_template(con, "synthea/count_rows.sql", name)
        if cur.fetchone()[0]:
            foreign.append(f"{schema}.{table}")
    if foreign:
        raise SyntheaError(
            f"warehouse {path} holds data other than a Synthea load ({', '.join(foreign)}); "
            "give a new file")


def _is_identifier(name: str) -> bool:
    try:
        validate_identifier(name, "table")
    except ConfigError:
        return False
    return True


def _clear(con: duckdb.DuckDBPyConnection) -> None:
    """Empty every ChartLedger table of a previous Synthea load, keeping the audit trail."""
    for schema, table in _base_tables(con):
        if schema in CHARTLEDGER_SCHEMAS and (schema, table) != ("ops", "run_log"):
            execute_template(con, "synthea/clear_table.sql", {"schema": schema, "table": table})


