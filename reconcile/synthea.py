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
from reconcile.config import ConfigError, Thresholds, validate_facility
from reconcile.pipeline import refresh_canonical
from reconcile.rules import evaluate_day, load_catalogue
from reconcile.warehouse import Warehouse, apply_ddl

log = logging.getLogger(__name__)

DEPARTMENT = "SYNTHEA"          # the one EHR department every Synthea record is charged under
COST_CENTER = "SYNTHEA"
REVENUE_ACCOUNT = "4000"
UNKNOWN_FACILITY = "UNKNOWN"    # documented items whose encounter is not in the export
RUN_PREFIX = "synthea-"
AUDIT_STEP = "synthea"

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

# What each loaded row must hold: (file, column, kind, rows it applies to). Kinds: text (present),
# ts (a Synthea timestamp or date), money (a decimal with at most 2 places), qty (a positive number).
CHARGE_ROWS = "TYPE = 'CHARGE'"
CHECKS: tuple[tuple[str, str, str, str], ...] = (
    ("encounters", "Id", "text", "true"),
    ("encounters", "START", "ts", "true"),
    ("encounters", "STOP", "ts?", "true"),
    ("encounters", "CODE", "text", "true"),
    ("encounters", "PATIENT", "text", "true"),
    ("procedures", "ENCOUNTER", "text", "true"),
    ("procedures", "CODE", "text", "true"),
    ("procedures", "START", "ts", "true"),
    ("medications", "ENCOUNTER", "text", "true"),
    ("medications", "CODE", "text", "true"),
    ("medications", "START", "ts", "true"),
    ("immunizations", "ENCOUNTER", "text", "true"),
    ("immunizations", "CODE", "text", "true"),
    ("immunizations", "DATE", "ts", "true"),
    ("claims_transactions", "ID", "text", CHARGE_ROWS),
    ("claims_transactions", "APPOINTMENTID", "text", CHARGE_ROWS),
    ("claims_transactions", "PROCEDURECODE", "text", CHARGE_ROWS),
    ("claims_transactions", "FROMDATE", "ts", CHARGE_ROWS),
    ("claims_transactions", "UNITS", "qty", CHARGE_ROWS),
    ("claims_transactions", "AMOUNT", "money", CHARGE_ROWS),
    ("claims_transactions", "UNITAMOUNT", "money?", CHARGE_ROWS),
)
_BAD = {
    "text": "{c} IS NULL",
    "ts": "{c} IS NULL OR syn_ts({c}) IS NULL",
    "ts?": "{c} IS NOT NULL AND syn_ts({c}) IS NULL",
    "money": r"{c} IS NULL OR NOT regexp_full_match({c}, '-?[0-9]+(\.[0-9]{{1,2}})?')",
    "money?": r"{c} IS NOT NULL AND NOT regexp_full_match({c}, '-?[0-9]+(\.[0-9]{{1,2}})?')",
    "qty": "{c} IS NULL OR TRY_CAST({c} AS DECIMAL(18,3)) IS NULL OR TRY_CAST({c} AS DECIMAL(18,3)) <= 0",
}

# Synthea writes ISO-8601 UTC timestamps (and plain dates in a few files).
TS_MACRO = ("CREATE OR REPLACE TEMP MACRO syn_ts(x) AS "
            "try_strptime(x, ['%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%fZ', '%Y-%m-%d'])")

# Documented items: the encounter's own code, procedures, medication orders, immunizations.
DOCUMENTED_SQL = """
CREATE OR REPLACE TEMP TABLE syn_documented AS
SELECT 'encounters.csv' AS file_name, row_number, Id AS visit_number, CODE AS code,
       syn_ts(START) AS performed_at, DESCRIPTION AS description,
       BASE_ENCOUNTER_COST AS base_cost, PATIENT AS mrn
FROM syn_encounters
UNION ALL
SELECT 'procedures.csv', row_number, ENCOUNTER, CODE, syn_ts(START), DESCRIPTION, BASE_COST, PATIENT
FROM syn_procedures
UNION ALL
SELECT 'medications.csv', row_number, ENCOUNTER, CODE, syn_ts(START), DESCRIPTION, BASE_COST, PATIENT
FROM syn_medications
UNION ALL
SELECT 'immunizations.csv', row_number, ENCOUNTER, CODE, syn_ts(DATE), DESCRIPTION, BASE_COST, PATIENT
FROM syn_immunizations
"""

CHARGE_LINES_SQL = f"""
CREATE OR REPLACE TEMP TABLE syn_charge_lines AS
SELECT c.*, CAST(syn_ts(c.FROMDATE) AS DATE) AS service_date,
       COALESCE(fp.facility, fe.facility, '{UNKNOWN_FACILITY}') AS facility
FROM syn_claims_transactions c
LEFT JOIN syn_facilities fp ON fp.org_id = c.PLACEOFSERVICE
LEFT JOIN syn_encounters e ON e.Id = c.APPOINTMENTID
LEFT JOIN syn_facilities fe ON fe.org_id = e.ORGANIZATION
WHERE c.{CHARGE_ROWS}
"""

SERVICE_RANGE_SQL = """
SELECT min(d), max(d) FROM (
    SELECT CAST(performed_at AS DATE) AS d FROM syn_documented
    UNION ALL SELECT service_date FROM syn_charge_lines)
"""

ADT_SQL = f"""
INSERT INTO staging.adt_events BY NAME
SELECT 'encounters.csv' AS file_name, e.row_number, $extract_date AS extract_date,
       $run_id AS load_run_id,
       'SYNTHEA-' || e.Id || '-' || ev.event_type AS message_control_id,
       'ADT' AS message_type, ev.event_type,
       CASE ev.event_type WHEN 'A01' THEN syn_ts(e.START) ELSE syn_ts(e.STOP) END AS message_at,
       CASE ev.event_type WHEN 'A01' THEN syn_ts(e.START) ELSE syn_ts(e.STOP) END AS event_at,
       e.PATIENT AS mrn,
       CASE lower(e.ENCOUNTERCLASS) WHEN 'inpatient' THEN 'I' WHEN 'emergency' THEN 'E'
            ELSE 'O' END AS patient_class,
       COALESCE(f.facility, '{UNKNOWN_FACILITY}') AS facility,
       e.ENCOUNTERCLASS AS hospital_service, e.Id AS visit_number,
       syn_ts(e.START) AS admit_at,
       CASE ev.event_type WHEN 'A03' THEN syn_ts(e.STOP) END AS discharge_at
FROM syn_encounters e
CROSS JOIN (VALUES ('A01'), ('A03')) AS ev(event_type)
LEFT JOIN syn_facilities f ON f.org_id = e.ORGANIZATION
WHERE ev.event_type = 'A01' OR e.STOP IS NOT NULL
"""

PROCEDURES_SQL = f"""
INSERT INTO staging.procedures BY NAME
SELECT d.file_name, d.row_number, $extract_date AS extract_date, $run_id AS load_run_id,
       replace(d.file_name, '.csv', '') || ':' || d.row_number AS resource_id,
       'completed' AS status, d.code AS cdm_code, d.mrn, d.visit_number, d.performed_at,
       '{DEPARTMENT}' AS department_code,
       COALESCE(f.facility, '{UNKNOWN_FACILITY}') AS facility
FROM syn_documented d
LEFT JOIN syn_encounters e ON e.Id = d.visit_number
LEFT JOIN syn_facilities f ON f.org_id = e.ORGANIZATION
"""

CHARGES_SQL = f"""
INSERT INTO staging.charges BY NAME
SELECT 'claims_transactions.csv' AS file_name, row_number, $extract_date AS extract_date,
       $run_id AS load_run_id, COALESCE(CLAIMID, ID) AS message_control_id, facility,
       APPOINTMENTID AS visit_number, PATIENTID AS mrn, ID AS transaction_id,
       service_date, service_date AS post_date, 'CG' AS txn_type,
       PROCEDURECODE AS cdm_code, NOTES AS cdm_description,
       CAST(UNITS AS DECIMAL(18,3)) AS quantity,
       CAST(AMOUNT AS DECIMAL(18,2)) AS extended_amount,
       CAST(UNITAMOUNT AS DECIMAL(18,2)) AS unit_amount,
       '{DEPARTMENT}' AS department_code,
       NULLIF(concat_ws('~', MODIFIER1, MODIFIER2), '') AS modifiers
FROM syn_charge_lines
"""

# One row per code: the latest non-zero charged unit amount, else the documented base cost.
CHARGEMASTER_SQL = f"""
INSERT INTO staging.chargemaster BY NAME
WITH observed AS (
    SELECT PROCEDURECODE AS code, CAST(UNITAMOUNT AS DECIMAL(18,2)) AS price, NOTES AS description,
           service_date AS day, 1 AS source_rank, 'claims_transactions.csv' AS file_name,
           row_number
    FROM syn_charge_lines
    UNION ALL
    SELECT code, TRY_CAST(base_cost AS DECIMAL(18,2)), description, CAST(performed_at AS DATE),
           2, file_name, row_number
    FROM syn_documented
), firsts AS (
    SELECT code, min(day) AS effective_from FROM observed GROUP BY code
)
SELECT o.file_name, o.row_number, $extract_date AS extract_date, $run_id AS load_run_id,
       o.code AS cdm_code, o.description, '{DEPARTMENT}' AS department_code,
       COALESCE(o.price, 0) AS unit_price, '{REVENUE_ACCOUNT}' AS gl_revenue_account,
       f.effective_from, 'A' AS status
FROM observed o JOIN firsts f USING (code)
QUALIFY row_number() OVER (
    PARTITION BY o.code
    ORDER BY COALESCE(o.price, 0) > 0 DESC, o.source_rank, o.day DESC, o.file_name DESC,
             o.row_number DESC) = 1
"""

DEPARTMENT_MAP_SQL = f"""
INSERT INTO staging.department_map BY NAME
SELECT 'organizations.csv' AS file_name, o.row_number, $extract_date AS extract_date,
       $run_id AS load_run_id, 'EHR' AS source_system,
       '{DEPARTMENT}' AS source_department_code, f.facility, '{COST_CENTER}' AS cost_center
FROM syn_organizations o JOIN syn_facilities f ON f.org_id = o.Id
QUALIFY row_number() OVER (PARTITION BY f.facility ORDER BY o.row_number) = 1
"""

OPEN_SQL = """
SELECT rule_id, count(*) FROM recon.exceptions
WHERE status = 'open' AND list_contains($rules, rule_id) GROUP BY rule_id
"""

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
    inputs = [{"file": p.name, "sha256": _sha256(p)} for p in paths.values()]
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
        params = {"extract_date": as_of, "run_id": run_id}
        con.execute("BEGIN TRANSACTION")
        try:
            _clear(con)
            for statement in (ADT_SQL, PROCEDURES_SQL, CHARGES_SQL, CHARGEMASTER_SQL,
                              DEPARTMENT_MAP_SQL):
                con.execute(statement, params)
            loaded = _loaded_counts(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        refresh_canonical(con)
        found = evaluate_day(con, as_of, replace(base, rolling_window_days=window), rules=rules)
        open_rows = dict(con.execute(OPEN_SQL, {"rules": list(SYNTHEA_RULES)}).fetchall())
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
    con.execute("SET preserve_insertion_order = true")
    con.execute(TS_MACRO)
    rows = {}
    for name, path in paths.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE syn_{name}_text AS "
                    "SELECT * FROM read_csv($path, header = true, all_varchar = true, "
                    "delim = ',', quote = '\"', escape = '\"')", {"path": str(path)})
        columns = {c[0] for c in con.execute(f"DESCRIBE syn_{name}_text").fetchall()}
        lacking = [c for c in FILES[name] if c not in columns]
        if lacking:
            raise SyntheaError(f"{path.name} lacks column(s) {', '.join(lacking)}")
        # The reader keeps the file's order (preserve_insertion_order), so in a table created
        # outside any transaction rowid + 1 is the file's data row number (inside a transaction,
        # uncommitted rows get transaction-local row ids: hence read before BEGIN).
        con.execute(f"CREATE OR REPLACE TEMP TABLE syn_{name} AS "
                    f"SELECT rowid + 1 AS row_number, * FROM syn_{name}_text")
        con.execute(f"DROP TABLE syn_{name}_text")
        count, first, last = con.execute(
            f"SELECT count(*), min(row_number), max(row_number) FROM syn_{name}").fetchone()
        if count and (first, last) != (1, count):
            raise SyntheaError(f"{path.name}: could not number its rows ({first}..{last} for "
                               f"{count} rows)")
        rows[name] = count
    problems = []
    for name, column, kind, where in CHECKS:
        bad = _BAD[kind].format(c=f'"{column}"')
        count, sample = con.execute(
            f"SELECT count(*), list(row_number ORDER BY row_number)[1:3] FROM syn_{name} "
            f"WHERE ({where}) AND ({bad})").fetchone()
        if count:
            problems.append(f"{name}.csv {column}: {count} row(s) unreadable or empty "
                            f"(data rows {', '.join(map(str, sample))}…)")
    duplicated = con.execute(
        "SELECT count(*) FROM (SELECT Id FROM syn_encounters GROUP BY Id HAVING count(*) > 1)"
    ).fetchone()[0]
    if duplicated:
        problems.append(f"encounters.csv: {duplicated} encounter id(s) appear more than once")
    if problems:
        raise SyntheaError("the Synthea export cannot be loaded: " + "; ".join(problems))
    _build_facilities(con)
    con.execute(DOCUMENTED_SQL)
    con.execute(CHARGE_LINES_SQL)
    return rows


def _build_facilities(con: duckdb.DuckDBPyConnection) -> None:
    org_ids = [r[0] for r in con.execute(
        "SELECT Id FROM syn_organizations WHERE Id IS NOT NULL "
        "UNION SELECT ORGANIZATION FROM syn_encounters WHERE ORGANIZATION IS NOT NULL "
        f"UNION SELECT PLACEOFSERVICE FROM syn_claims_transactions "
        f"WHERE {CHARGE_ROWS} AND PLACEOFSERVICE IS NOT NULL ORDER BY 1").fetchall()]
    codes: dict[str, str] = {}
    for org_id in org_ids:
        code = facility_code(org_id)
        if code in codes and codes[code] != org_id:
            raise SyntheaError(f"organizations {codes[code]} and {org_id} share the facility "
                               f"code {code}")
        codes[code] = org_id
    con.execute("CREATE OR REPLACE TEMP TABLE syn_facilities (org_id VARCHAR, facility VARCHAR)")
    if codes:
        con.executemany("INSERT INTO syn_facilities VALUES (?, ?)",
                        [(org_id, code) for code, org_id in codes.items()])


def _service_range(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date]:
    first, last = con.execute(SERVICE_RANGE_SQL).fetchone()
    if first is None:
        raise SyntheaError("the Synthea export documents and charges nothing")
    return first, last


def _loaded_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    queries = {
        "facilities": "SELECT count(DISTINCT facility) FROM staging.adt_events",
        "visits": "SELECT count(DISTINCT visit_number) FROM staging.adt_events",
        "adt_events": "SELECT count(*) FROM staging.adt_events",
        "documented_items": "SELECT count(*) FROM staging.procedures",
        "charge_lines": "SELECT count(*) FROM staging.charges",
        "chargemaster_codes": "SELECT count(*) FROM staging.chargemaster",
        "department_map_rows": "SELECT count(*) FROM staging.department_map",
    }
    return {k: int(con.execute(q).fetchone()[0]) for k, q in queries.items()}


def _base_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY 1, 2"
    ).fetchall()


def _refuse_foreign_data(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Raise unless the warehouse is empty or holds only a previous Synthea load."""
    foreign = []
    for schema, table in _base_tables(con):
        if schema in DERIVED_SCHEMAS:
            continue
        name = f'"{schema}"."{table}"'
        if schema not in CHARTLEDGER_SCHEMAS:
            foreign.append(f"{schema}.{table}")
            continue
        columns = {c[0] for c in con.execute(f"DESCRIBE {name}").fetchall()}
        if (schema, table) == ("ops", "run_log"):
            where = f"step <> '{AUDIT_STEP}'"
        elif "load_run_id" in columns:
            where = f"load_run_id NOT LIKE '{RUN_PREFIX}%'"
        else:
            where = "true"
        if con.execute(f"SELECT count(*) FROM {name} WHERE {where}").fetchone()[0]:
            foreign.append(f"{schema}.{table}")
    if foreign:
        raise SyntheaError(
            f"warehouse {path} holds data other than a Synthea load ({', '.join(foreign)}); "
            "give a new file")


def _clear(con: duckdb.DuckDBPyConnection) -> None:
    """Empty every ChartLedger table of a previous Synthea load, keeping the audit trail."""
    for schema, table in _base_tables(con):
        if schema in CHARTLEDGER_SCHEMAS and (schema, table) != ("ops", "run_log"):
            con.execute(f'DELETE FROM "{schema}"."{table}"')


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
