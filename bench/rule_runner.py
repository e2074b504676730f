"""Benchmark of the rule runner (issue 5): the whole catalogue for one as-of date at N charge lines.

For each N the script builds a fresh warehouse file with DuckDB SQL only (INSERT ... SELECT FROM
range(N): no files, no pandas), plants about 2 % differences of known kinds, then measures, each in
a child process of its own so that the peak RSS is that of the measured work alone:

  floor   a bare DuckDB FULL OUTER JOIN of the two sides (charge lines and completed procedures,
          each aggregated by facility, visit, CDM code and service date) into a temp table, and
          the count of keys whose quantities differ;
  runner  `reconcile.pipeline.refresh_canonical` then `reconcile.rules.evaluate_day` (timed);
  profile the same evaluate_day again, on a connection wrapper that times every statement it
          executes (which prepare statement or rule is hot). Its total is reported apart.

Same DuckDB memory_limit, threads and temp_directory for every child. Run from the repository:

    .venv/bin/python bench/rule_runner.py --rows 1000000 10000000 --memory-limit 3GB --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Rule runner (issue 5)"
TARGET_RATIO = 5.0
TARGET_PEAK_MB = 4096

AS_OF = dt.date(2026, 3, 15)
WINDOW_DAYS = 14  # Thresholds().rolling_window_days
LOAD_RUN = "bench-rule-runner"
ITEMS_PER_VISIT = 10
CDM_CODES = 300
FACILITIES = ("NORTH", "SOUTH", "CHILD")
PREFIXES = ("N", "S", "C")
# (EHR department code, cost-center offset, revenue natural account), as in the demo catalogue
DEPARTMENTS = (("ED", 10, "4010"), ("MED", 20, "4020"), ("ICU", 30, "4030"), ("PEDS", 40, "4040"),
               ("CARD", 60, "4060"), ("RESP", 70, "4070"), ("IMG", 120, "4110"),
               ("LAB", 130, "4120"), ("PHARM", 140, "4130"), ("SURG", 150, "4150"))
# Extra charge lines per item on average: duplicates 0.5 %, credit + repost 1 % x 2, missing -0.5 %.
LINES_PER_ITEM = 1.02


# --------------------------------------------------------------------------------------------
# Data: one "item" = one documented service (1 or 2 completed procedures) and its charge line(s)
# --------------------------------------------------------------------------------------------

def _sql_list(values: tuple) -> str:
    return "[" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values) + "]"


def items_view_sql(items: int, as_of: dt.date) -> str:
    """A temp view with every item's derived attributes; every staging table is built from it."""
    window_start = as_of - dt.timedelta(days=WINDOW_DAYS - 1)
    return f"""
CREATE OR REPLACE TEMP VIEW bench_items AS
WITH b AS (
    SELECT i, i // {ITEMS_PER_VISIT} AS v, i % {ITEMS_PER_VISIT} AS j FROM range({items}) t(i)
), c AS (
    SELECT i, v, j, CAST(v % 3 AS INTEGER) AS f,
           CAST((v * 13 + j * 31) % {CDM_CODES} AS INTEGER) AS c,
           DATE '{window_start}' + CAST(v % {WINDOW_DAYS} AS INTEGER) AS admit_date,
           CAST(j % (1 + v % 4) AS INTEGER) AS day_offset,
           CASE i % 200 WHEN 7 THEN 'missing' WHEN 57 THEN 'undocumented'
                        WHEN 107 THEN 'duplicate' WHEN 157 THEN 'qty_mismatch' END AS kind,
           i % 100 = 3    AS credit_repost,
           i % 1000 = 499 AS price_off,
           CASE WHEN j = 4 THEN 2 ELSE 1 END AS q
    FROM b
), d AS (
    SELECT *, least(admit_date + day_offset, DATE '{as_of}') AS service_date,
           CAST(25 + (c * 37) % 500 AS DECIMAL(18,2)) + 0.50 AS price,
           c % 10 AS dept
    FROM c
)
SELECT i, v, j, c, q, kind, credit_repost, price_off, admit_date, service_date,
       {_sql_list(FACILITIES)}[f + 1]                                  AS facility,
       {_sql_list(PREFIXES)}[f + 1] || CAST(1000000 + v AS VARCHAR)    AS visit_number,
       'MRN' || CAST(5000000 + v AS VARCHAR)                           AS mrn,
       'A' || CAST(8000000 + v AS VARCHAR)                             AS account_number,
       CAST(300000 + c AS VARCHAR)                                     AS cdm_code,
       CAST(70000 + c AS VARCHAR)                                      AS cpt,
       {_sql_list(tuple(d[0] for d in DEPARTMENTS))}[dept + 1]         AS department_code,
       CAST(1000000000 + (i * 7919) % 50000 AS VARCHAR)                AS npi,
       CASE WHEN dept = 6 THEN '26' END                                AS modifiers,
       q + CASE WHEN kind = 'qty_mismatch' THEN 1 ELSE 0 END           AS charge_qty,
       price + CASE WHEN price_off THEN 1.00 ELSE 0 END                AS unit_amount,
       i % 1000 = 999 AND service_date <= DATE '{as_of}' - 5            AS late,
       CASE WHEN i % 1000 = 999 AND service_date <= DATE '{as_of}' - 5 THEN service_date + 5
            ELSE least(service_date + CAST(i % 2 AS INTEGER), DATE '{as_of}') END AS post_date
FROM d
"""


def _lineage(file_expr: str, row_expr: str, extract_expr: str) -> str:
    return (f"{file_expr} AS file_name, {row_expr} AS row_number, {extract_expr} AS extract_date, "
            f"'{LOAD_RUN}' AS load_run_id")


def populate_sql(as_of: dt.date, visits: int) -> list[str]:
    """INSERT statements filling the staging tables from bench_items (in this order)."""
    window_start = as_of - dt.timedelta(days=WINDOW_DAYS - 1)
    charge_cols = f"""
        {_lineage("'DFT_' || facility || '_' || strftime(post_date, '%Y%m%d') || '.hl7'",
                  "line_id", "post_date")},
        'DFT' || CAST(line_id AS VARCHAR) AS message_control_id, 'DFT^P03' AS message_type,
        facility, visit_number, mrn,
        account_number, 1 AS ft1_set_id, 'CH' || CAST(10000000000 + line_id AS VARCHAR)
        AS transaction_id, service_date, post_date, txn_type, cdm_code,
        'BENCH SERVICE ' || cdm_code AS cdm_description, CAST(charge_qty AS DECIMAL(18,3))
        AS quantity, CAST(sign * unit_amount * charge_qty AS DECIMAL(18,2)) AS extended_amount,
        CAST(unit_amount AS DECIMAL(18,2)) AS unit_amount, department_code,
        npi AS performing_npi, npi AS ordering_npi, 'ORD' || CAST(i AS VARCHAR) AS order_number,
        cpt AS cpt_hcpcs, modifiers, NULL AS ndc"""
    charges = f"""
INSERT INTO staging.charges BY NAME
WITH lines AS (
    SELECT *, i * 4 AS line_id, 'CG' AS txn_type, 1 AS sign FROM bench_items
    WHERE kind IS DISTINCT FROM 'missing'
    UNION ALL  -- a second identical CG line with its own transaction id
    SELECT *, i * 4 + 1, 'CG', 1 FROM bench_items WHERE kind = 'duplicate'
    UNION ALL  -- a credit reversing the line, then the line posted again: not a duplicate
    SELECT *, i * 4 + 2, 'CD', -1 FROM bench_items WHERE credit_repost
    UNION ALL
    SELECT *, i * 4 + 3, 'CG', 1 FROM bench_items WHERE credit_repost
)
SELECT {charge_cols} FROM lines
"""
    proc_cols = f"""
        {_lineage("'procedures_' || strftime(service_date, '%Y%m%d') || '.ndjson'", "row_no",
                  "service_date")},
        'P' || CAST(i AS VARCHAR) || '-' || CAST(k AS VARCHAR) AS resource_id, status,
        cpt AS cpt_code, cdm_code, mrn, visit_number,
        CAST(service_date AS TIMESTAMP) + INTERVAL 9 HOUR + to_minutes(CAST(i % 600 AS BIGINT))
        AS performed_at, npi AS performer_npi, department_code, facility"""
    procedures = f"""
INSERT INTO staging.procedures BY NAME
WITH docs AS (
    SELECT *, 0 AS k, 'completed' AS status, i * 4 + 1 AS row_no FROM bench_items
    WHERE kind IS DISTINCT FROM 'undocumented'
    UNION ALL  -- a second procedure of the same service (quantity 2)
    SELECT *, 1, 'completed', i * 4 + 3 FROM bench_items
    WHERE q = 2 AND kind IS DISTINCT FROM 'undocumented'
    UNION ALL  -- an earlier in-progress version, superseded by the completed one
    SELECT *, 0, 'in-progress', i * 4 FROM bench_items
    WHERE i % 100 = 11 AND kind IS DISTINCT FROM 'undocumented'
)
SELECT {proc_cols} FROM docs
"""
    facility = f"{_sql_list(FACILITIES)}[CAST(v % 3 AS INTEGER) + 1]"
    visit = f"{_sql_list(PREFIXES)}[CAST(v % 3 AS INTEGER) + 1] || CAST(1000000 + v AS VARCHAR)"
    admit = f"DATE '{window_start}' + CAST(v % {WINDOW_DAYS} AS INTEGER)"
    adt = f"""
INSERT INTO staging.adt_events BY NAME
SELECT {_lineage("'ADT_' || " + facility + " || '_' || strftime(" + admit + ", '%Y%m%d') || '.hl7'",
                 "v + 1", admit)},
       'ADT' || CAST(v AS VARCHAR) AS message_control_id, 'ADT^A01' AS message_type,
       'A01' AS event_type, CAST({admit} AS TIMESTAMP) + INTERVAL 7 HOUR AS message_at,
       CAST({admit} AS TIMESTAMP) + INTERVAL 7 HOUR AS event_at,
       'MRN' || CAST(5000000 + v AS VARCHAR) AS mrn, 'A' || CAST(8000000 + v AS VARCHAR)
       AS account_number, CASE v % 5 WHEN 0 THEN 'E' WHEN 1 THEN 'O' ELSE 'I' END AS patient_class,
       '4W' AS location_unit, {facility} AS facility, 'MED' AS hospital_service,
       {visit} AS visit_number, CAST({admit} AS TIMESTAMP) + INTERVAL 7 HOUR AS admit_at,
       NULL AS discharge_at
FROM range({visits}) t(v)
"""
    chargemaster = f"""
INSERT INTO staging.chargemaster BY NAME
SELECT {_lineage("'chargemaster_20260101.csv'", "c + 1", "DATE '2026-01-01'")},
       CAST(300000 + c AS VARCHAR) AS cdm_code, 'BENCH SERVICE ' || CAST(300000 + c AS VARCHAR)
       AS description, '0300' AS revenue_code, CAST(70000 + c AS VARCHAR) AS cpt_hcpcs,
       NULL AS ndc, {_sql_list(tuple(d[0] for d in DEPARTMENTS))}[CAST(c % 10 AS INTEGER) + 1]
       AS department_code, CAST(25 + (c * 37) % 500 AS DECIMAL(18,2)) + 0.50 AS unit_price,
       {_sql_list(tuple(d[2] for d in DEPARTMENTS))}[CAST(c % 10 AS INTEGER) + 1]
       AS gl_revenue_account, DATE '2025-01-01' AS effective_from, NULL AS effective_to,
       'A' AS status
FROM range({CDM_CODES}) t(c)
"""
    dept_rows = ", ".join(f"('{d}', {o}, '{a}')" for d, o, a in DEPARTMENTS)
    department_map = f"""
INSERT INTO staging.department_map BY NAME
SELECT {_lineage("'department_map_20260101.csv'", "row_number() OVER ()", "DATE '2026-01-01'")},
       'EHR' AS source_system, d.code AS source_department_code, f.facility,
       CAST(1000 * (f.n + 1) + d.offset_ AS VARCHAR) AS cost_center
FROM (VALUES {dept_rows}) d(code, offset_, account),
     (VALUES {", ".join(f"('{f}', {n})" for n, f in enumerate(FACILITIES))}) f(facility, n)
"""
    cost_centers = f"""
INSERT INTO staging.cost_centers BY NAME
SELECT {_lineage("'cost_centers_20260101.csv'", "row_number() OVER ()", "DATE '2026-01-01'")},
       m.cost_center, m.facility, 'BENCH ' || m.source_department_code AS name,
       'BENCH' AS service_line, d.account AS natural_account_revenue, true AS active,
       DATE '2020-01-01' AS valid_from, NULL AS valid_to
FROM staging.department_map m
JOIN (VALUES {dept_rows}) d(code, offset_, account) ON d.code = m.source_department_code
"""
    billing = f"""
INSERT INTO staging.billing_accounts BY NAME
WITH totals AS (
    SELECT facility, visit_number,
           sum(CASE WHEN txn_type = 'CD' THEN -abs(extended_amount) ELSE extended_amount END) AS t
    FROM staging.charges GROUP BY ALL
)
SELECT {_lineage("'billing_accounts_' || strftime(DATE '" + str(as_of) + "', '%Y%m%d') || '.csv'",
                 "v + 1", f"DATE '{as_of}'")},
       {visit} AS visit_number, {facility} AS facility,
       'MRN' || CAST(5000000 + v AS VARCHAR) AS mrn, 'A' || CAST(8000000 + v AS VARCHAR)
       AS account_number, 'I' AS patient_class, {admit} AS admit_date, NULL AS discharge_date,
       'OPEN' AS account_status, NULL AS final_bill_date,
       t.t + CASE WHEN v % 500 = 13 THEN 10.00 ELSE 0 END AS total_charges
FROM range({visits}) r(v)
JOIN totals t ON t.facility = {facility} AND t.visit_number = {visit}
WHERE v % 1000 <> 77
"""
    # One revenue-interface batch per facility and posting date; one line per cost center and
    # account. Planted: the CHILD batch of as_of - 5 left UNPOSTED, and the SOUTH LAB line of
    # as_of - 3 off by $100.
    gl = f"""
INSERT INTO staging.gl_journal_lines BY NAME
WITH agg AS (
    SELECT ch.facility, ch.post_date, dm.cost_center, cm.gl_revenue_account AS natural_account,
           sum(CASE WHEN ch.txn_type = 'CD' THEN -abs(ch.extended_amount)
                    ELSE ch.extended_amount END) AS amount
    FROM staging.charges ch
    JOIN staging.department_map dm
      ON dm.facility = ch.facility AND dm.source_department_code = ch.department_code
    JOIN staging.chargemaster cm ON cm.cdm_code = ch.cdm_code
    GROUP BY ALL
), planted AS (
    SELECT *,
           facility = 'CHILD' AND post_date = DATE '{as_of}' - 5                 AS unposted,
           facility = 'SOUTH' AND post_date = DATE '{as_of}' - 3
               AND cost_center = '2130'                                          AS variance,
           row_number() OVER (PARTITION BY facility, post_date
                              ORDER BY cost_center, natural_account)            AS line_no
    FROM agg
)
SELECT {_lineage("'gl_journal_' || strftime(post_date, '%Y%m%d') || '.csv'",
                 "row_number() OVER (ORDER BY facility, post_date, line_no)", "post_date")},
       'REV-' || facility || '-' || strftime(post_date, '%Y%m%d') AS journal_id,
       CAST(line_no AS INTEGER) AS line_number, 'ACTUAL' AS ledger,
       strftime(post_date, '%Y-%m') AS period, post_date AS accounting_date,
       CAST(post_date AS TIMESTAMP) + INTERVAL 23 HOUR AS posted_at,
       CASE WHEN unposted THEN 'UNPOSTED' ELSE 'POSTED' END AS status,
       'REVENUE_INTERFACE' AS source, facility || '-' || cost_center || '-' || natural_account
       AS account, facility AS entity, cost_center, natural_account, '000' AS sub_account,
       CAST(greatest(-amount, 0) AS DECIMAL(18,2)) AS debit,
       CAST(greatest(amount, 0) + CASE WHEN variance THEN 100.00 ELSE 0 END AS DECIMAL(18,2))
       AS credit, 'USD' AS currency, facility || '-' || strftime(post_date, '%Y%m%d') AS reference,
       CASE WHEN variance THEN 'bench:variance' WHEN unposted THEN 'bench:unposted'
            ELSE 'revenue interface' END AS description,
       CAST(post_date AS TIMESTAMP) + INTERVAL 23 HOUR AS updated_at
FROM planted
"""
    return [chargemaster, department_map, cost_centers, adt, charges, procedures, billing, gl]


def planted_sql(as_of: dt.date, charge_window_days: int, late_charge_days: int) -> str:
    """What each rule should find, from the same formulas that planted it."""
    return f"""
SELECT
  count(*) FILTER (WHERE kind = 'missing'
                   AND DATE '{as_of}' > service_date + {charge_window_days}) AS MISSING_CHARGE,
  count(*) FILTER (WHERE kind = 'missing')                                  AS missing_all,
  count(*) FILTER (WHERE kind = 'undocumented')                             AS UNDOCUMENTED_CHARGE,
  count(*) FILTER (WHERE kind = 'duplicate')                                AS DUPLICATE_CHARGE,
  count(*) FILTER (WHERE kind = 'qty_mismatch')                             AS CHARGE_QTY_MISMATCH,
  count(*) FILTER (WHERE late AND post_date - service_date > {late_charge_days}) AS LATE_CHARGE,
  count(*) FILTER (WHERE price_off)                                         AS PRICE_MISMATCH,
  count(*) FILTER (WHERE credit_repost)                                     AS credit_reposts
FROM bench_items
"""


def build_warehouse(db: Path, rows: int, args: argparse.Namespace) -> dict:
    """A fresh warehouse at `db` with about `rows` charge lines; returns row counts and plants."""
    from reconcile.config import DuckDBSettings, Thresholds
    from reconcile.warehouse import Warehouse

    for stale in db.parent.glob(db.name + "*"):
        stale.unlink()
    settings = DuckDBSettings(memory_limit=args.gen_memory_limit, threads=args.threads,
                              temp_directory=str(args.work / "duckdb_tmp"))
    warehouse = Warehouse(db, settings)
    warehouse.ensure_schema()
    items = round(rows / LINES_PER_ITEM)
    visits = -(-items // ITEMS_PER_VISIT)
    th = Thresholds()
    with warehouse.writer() as con:
        con.execute(items_view_sql(items, AS_OF))
        for statement in populate_sql(AS_OF, visits):
            con.execute(statement)
        names = [d[0] for d in con.execute(planted_sql(AS_OF, th.charge_window_days,
                                                       th.late_charge_days)).description]
        values = con.execute(planted_sql(AS_OF, th.charge_window_days,
                                         th.late_charge_days)).fetchone()
        planted = {n.upper(): int(x) for n, x in zip(names, values, strict=True)}
        planted["ENCOUNTER_NO_ACCOUNT"] = con.execute(
            f"SELECT count(*) FROM range({visits}) t(v) WHERE v % 1000 = 77").fetchone()[0]
        planted["ACCOUNT_TOTAL_MISMATCH"] = con.execute(
            f"SELECT count(*) FROM range({visits}) t(v) WHERE v % 500 = 13").fetchone()[0]
        planted["GL_UNPOSTED_BATCH"] = con.execute(
            "SELECT count(DISTINCT journal_id) FROM staging.gl_journal_lines "
            "WHERE description = 'bench:unposted'").fetchone()[0]
        planted["GL_REVENUE_VARIANCE"] = con.execute(
            "SELECT count(*) FROM staging.gl_journal_lines "
            "WHERE description = 'bench:variance'").fetchone()[0]
        counts = {}
        for table in ("charges", "procedures", "adt_events", "chargemaster", "department_map",
                      "billing_accounts", "gl_journal_lines", "cost_centers"):
            counts[table] = con.execute(f"SELECT count(*) FROM staging.{table}").fetchone()[0]
        counts["charges_cd"] = con.execute(
            "SELECT count(*) FROM staging.charges WHERE txn_type = 'CD'").fetchone()[0]
        counts["items"] = items
        counts["visits"] = visits
        con.execute("DROP VIEW bench_items")
        con.execute("CHECKPOINT")
    return {"counts": counts, "planted": planted, "db_mb": db.stat().st_size / 2**20}


# --------------------------------------------------------------------------------------------
# Children: each measurement runs in its own process
# --------------------------------------------------------------------------------------------

FLOOR_SQL = """
CREATE OR REPLACE TEMP TABLE floor_keys AS
WITH posted AS (
    SELECT facility, visit_number, cdm_code, service_date,
           sum(CASE WHEN txn_type = 'CD' THEN -quantity ELSE quantity END) AS posted_qty
    FROM staging.charges
    GROUP BY ALL
), documented AS (
    SELECT facility, visit_number, cdm_code, CAST(performed_at AS DATE) AS service_date,
           count(*) AS expected_qty
    FROM staging.procedures
    WHERE status = 'completed'
    GROUP BY ALL
)
SELECT COALESCE(p.facility, d.facility) AS facility,
       COALESCE(p.visit_number, d.visit_number) AS visit_number,
       COALESCE(p.cdm_code, d.cdm_code) AS cdm_code,
       COALESCE(p.service_date, d.service_date) AS service_date,
       COALESCE(d.expected_qty, 0) AS expected_qty, COALESCE(p.posted_qty, 0) AS posted_qty
FROM posted p
FULL OUTER JOIN documented d
  ON d.facility = p.facility AND d.visit_number = p.visit_number
 AND d.cdm_code = p.cdm_code AND d.service_date = p.service_date
"""


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds() -> float:
    """CPU time of this process, every thread (DuckDB's workers included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _settings_sql(args: argparse.Namespace) -> list[str]:
    return [f"SET memory_limit = '{args.memory_limit}'", f"SET threads = {int(args.threads)}",
            f"SET temp_directory = '{args.temp_dir}'"]


def child_floor(args: argparse.Namespace) -> dict:
    import duckdb

    con = duckdb.connect(str(args.db))
    for statement in _settings_sql(args):
        con.execute(statement)
    rss_before = _rss_mb()
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    con.execute(FLOOR_SQL)
    keys, differing = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE expected_qty <> posted_qty) FROM floor_keys"
    ).fetchone()
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    con.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "keys": keys, "differing": differing,
            "rss_before_mb": rss_before}


class TimingConnection:
    """Delegates to a DuckDB connection and times every execute() (statement profile)."""

    def __init__(self, con) -> None:
        self._con = con
        self.timings: list[tuple[str, float]] = []

    def execute(self, statement, parameters=None):
        t0 = time.perf_counter()
        result = self._con.execute(statement, parameters)
        self.timings.append((_label(statement, parameters), time.perf_counter() - t0))
        return result

    def __getattr__(self, name):
        return getattr(self._con, name)


def _label(statement: str, parameters) -> str:
    if isinstance(parameters, dict) and "rule_id" in parameters:
        return f"rule {parameters['rule_id']}"
    code = " ".join(ln.split("--", 1)[0] for ln in statement.splitlines()).strip()
    code = re.sub(r"\s+", " ", code)
    m = re.match(r"(CREATE OR REPLACE TEMP TABLE|INSERT OR REPLACE INTO|INSERT INTO|DELETE FROM)"
                 r" (\S+)", code, re.IGNORECASE)
    if m:
        verb = {"CREATE OR REPLACE TEMP TABLE": "temp table"}.get(m.group(1).upper(),
                                                                  m.group(1).lower())
        return f"{verb} {m.group(2)}"
    return code[:60]


def child_runner(args: argparse.Namespace, profile: bool) -> dict:
    from reconcile.config import DuckDBSettings, Thresholds
    from reconcile.pipeline import refresh_canonical
    from reconcile.rules import evaluate_day
    from reconcile.warehouse import Warehouse

    settings = DuckDBSettings(memory_limit=args.memory_limit, threads=args.threads,
                              temp_directory=str(args.temp_dir))
    with Warehouse(args.db, settings).writer() as con:
        rss_before = _rss_mb()
        t0 = time.perf_counter()
        refresh_canonical(con)
        refresh_s = time.perf_counter() - t0
        target = TimingConnection(con) if profile else con
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        counts = evaluate_day(target, AS_OF, Thresholds())
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    out = {"seconds": seconds, "cpu_seconds": cpu, "refresh_seconds": refresh_s,
           "counts": counts, "rss_before_mb": rss_before}
    if profile:
        out["statements"] = target.timings
    return out


def run_child(mode: str, db: Path, memory_limit: str, args: argparse.Namespace) -> dict:
    """Run one measurement in a child process; its peak RSS comes from wait4 (that child only)."""
    temp_dir = args.work / "duckdb_tmp"
    shutil.rmtree(temp_dir, ignore_errors=True)
    temp_dir.mkdir(parents=True)
    out = args.work / f"child_{mode}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--db", str(db),
           "--out", str(out), "--memory-limit", memory_limit, "--threads", str(args.threads),
           "--temp-dir", str(temp_dir)]
    proc = subprocess.Popen(cmd, cwd=REPO)
    spill_peak, load_max = 0, os.getloadavg()[0]
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        spill_peak = max(spill_peak, _dir_bytes(temp_dir))
        load_max = max(load_max, os.getloadavg()[0])
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} failed with exit code {proc.returncode}")
    result = json.loads(out.read_text())
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    result["spill_peak_mb"] = spill_peak / 2**20
    result["load_max"] = load_max
    return result


def measure(step: str, db: Path, memory_limit: str, repeat: int, args: argparse.Namespace,
            rows: int) -> dict:
    """The best (shortest) of `repeat` runs; peak RSS and spill are the worst of them."""
    samples = []
    for _ in range(repeat):
        m = run_child(step, db, memory_limit, args)
        samples.append(m)
        print(f"[{rows:,}] {step} @ {memory_limit}: {m['seconds']:.2f} s (CPU {m['cpu_seconds']:.1f} s), "
              f"peak RSS {m['peak_rss_mb']:,.0f} MiB, spill {m['spill_peak_mb']:,.0f} MiB, "
              f"load <= {m['load_max']:.1f}", flush=True)
    best = dict(min(samples, key=lambda m: m["seconds"]))
    best.update(step=step, memory_limit=memory_limit,
                samples=[round(m["seconds"], 2) for m in samples],
                peak_rss_mb=max(m["peak_rss_mb"] for m in samples),
                spill_peak_mb=max(m["spill_peak_mb"] for m in samples),
                load_max=max(m["load_max"] for m in samples))
    return best


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info() -> dict:
    import duckdb

    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as fh:
        mem_kb = int(next(ln for ln in fh if ln.startswith("MemTotal:")).split()[1])
    status = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                            text=True).stdout
    dirty = [ln[3:] for ln in status.splitlines() if ln[3:] and not ln[3:].startswith("bench/")]
    return {"nproc": _run(["nproc"]), "memory_gb": round(mem_kb / 2**20, 1), "cpu": cpu,
            "duckdb": duckdb.__version__, "python": platform.python_version(),
            "commit": _run(["git", "rev-parse", "--short", "HEAD"]), "dirty": dirty}


def _fmt_int(n: float) -> str:
    return f"{n:,.0f}"


STEP_NAMES = {"floor": "bare FULL OUTER JOIN", "runner": "evaluate_day (whole catalogue)",
              "profile": "evaluate_day, each statement timed"}


def _floor_of(r: dict, memory_limit: str) -> dict:
    return next(m for m in r["measurements"]
                if m["step"] == "floor" and m["memory_limit"] == memory_limit)


def result_tables(results: list[dict]) -> list[str]:
    lines = ["| charge lines | memory_limit | step | seconds (runs) | charge lines/s | CPU s "
             "| peak RSS MiB | RSS before MiB | spill peak MiB | load avg max | ratio to floor "
             "(wall / CPU) |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        n = r["data"]["counts"]["charges"]
        for m in r["measurements"]:
            floor = _floor_of(r, m["memory_limit"])
            ratio = ("1 / 1" if m["step"] == "floor" else
                     f"{m['seconds'] / floor['seconds']:.1f} / "
                     f"{m['cpu_seconds'] / floor['cpu_seconds']:.1f}")
            runs = ", ".join(f"{s:.2f}" for s in m["samples"])
            lines.append(f"| {_fmt_int(n)} | {m['memory_limit']} | {STEP_NAMES[m['step']]} "
                         f"| **{m['seconds']:.2f}** ({runs}) | {_fmt_int(n / m['seconds'])} "
                         f"| {m['cpu_seconds']:.2f} | {m['peak_rss_mb']:,.0f} "
                         f"| {m['rss_before_mb']:,.0f} | {m['spill_peak_mb']:,.0f} "
                         f"| {m['load_max']:.1f} | {ratio} |")
    return lines


def _runners(r: dict) -> list[dict]:
    return [m for m in r["measurements"] if m["step"] == "runner"]


def sanity_lines(r: dict) -> list[str]:
    planted = r["data"]["planted"]
    found = _runners(r)[0]["counts"]
    same = all(m["counts"] == found for m in r["measurements"] if "counts" in m)
    lines = ["| rule | found | planted |", "|---|---:|---:|"]
    for rule, n in found.items():
        want = planted.get(rule, 0)
        flag = "" if want == n else " **differs**"
        lines.append(f"| {rule} | {n:,} | {want:,}{flag} |")
    if not same:
        lines.append("| (runs disagree) | **the evaluations did not all find the same** | |")
    return lines


def profile_lines(r: dict, top: int = 12) -> list[str]:
    prof = next((m for m in r["measurements"] if m["step"] == "profile"), None)
    if not prof:
        return []
    total = sum(s for _, s in prof["statements"])
    agg: dict[str, float] = {}
    for label, s in prof["statements"]:
        agg[label] = agg.get(label, 0.0) + s
    lines = [f"| statement (evaluate_day, {_fmt_int(r['data']['counts']['charges'])} lines, "
             f"memory_limit {prof['memory_limit']}) | seconds | share |", "|---|---:|---:|"]
    for label, s in sorted(agg.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {label} | {s:.2f} | {100 * s / total:.0f} % |")
    rest = sum(sorted(agg.values(), reverse=True)[top:])
    lines.append(f"| {max(len(agg) - top, 0)} other statements | {rest:.2f} "
                 f"| {100 * rest / total:.0f} % |")
    return lines


def verdict_lines(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        n = r["data"]["counts"]["charges"]
        for m in _runners(r):
            floor = _floor_of(r, m["memory_limit"])
            ratio = m["seconds"] / floor["seconds"]
            ok_ratio = "met" if ratio <= TARGET_RATIO else "NOT met"
            ok_mem = "met" if m["peak_rss_mb"] <= TARGET_PEAK_MB else "NOT met"
            out.append(f"- {_fmt_int(n)} lines, memory_limit {m['memory_limit']}: runner / floor = "
                       f"{ratio:.1f} (target <= {TARGET_RATIO:g}: {ok_ratio}); runner peak RSS "
                       f"{m['peak_rss_mb']:,.0f} MiB (target <= {TARGET_PEAK_MB} MiB: {ok_mem}).")
    return out


def markdown_section(results: list[dict], machine: dict, command: str) -> str:
    dirty = (" (working tree with uncommitted changes to " + ", ".join(machine["dirty"]) + ")"
             if machine["dirty"] else "")
    parts = [SECTION, "",
             f"Measured {dt.date.today()} with `{command}`.", "",
             f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory_gb']} GB RAM; "
             f"DuckDB {machine['duckdb']}, Python {machine['python']}; commit "
             f"`{machine['commit']}`{dirty}.", "",
             f"Data: one as-of date ({AS_OF}), every charge line in its {WINDOW_DAYS}-day window, "
             "3 facilities, 10 services per visit, a 300-code chargemaster, an A01 for every "
             "visit, billing accounts and revenue-interface GL lines. Planted: 0.5 % each of "
             "missing charges, undocumented charges, duplicate lines and quantity mismatches, 1 % "
             "credit-and-repost pairs (not defects), 0.1 % price mismatches and late charges, "
             "0.1-0.2 % visits with no account or a wrong account total, one unposted GL batch "
             "and one GL variance.", "",
             "Each run is a child process of its own: peak RSS is that process's ru_maxrss "
             "(Python, pandas and the other imports included; \"RSS before\" = after imports and "
             "connecting, before the timed work); CPU s = the process's user + system time over "
             "the timed work, all threads. Seconds = the best of the runs listed. Floor = a bare "
             "DuckDB FULL OUTER JOIN of charge lines and completed procedures, each aggregated by "
             "facility, visit, CDM code and service date, into a temp table, plus the count of "
             "keys whose quantities differ; same memory_limit, threads and temp_directory as the "
             "runner. The profile row is a second evaluation of the same day through a wrapper "
             "that times each statement (it replaces that day's findings). \"load avg max\" is the "
             "1-minute load average seen during the runs: above the thread count, other work "
             "shared the CPUs and wall-clock figures are inflated.", ""]
    parts += result_tables(results) + [""] + verdict_lines(results) + [""]
    for r in results:
        n = _fmt_int(r["data"]["counts"]["charges"])
        c = r["data"]["counts"]
        floor = next(m for m in r["measurements"] if m["step"] == "floor")
        runner = _runners(r)[0]
        parts += [f"### {n} charge lines", "",
                  f"Rows: {c['charges']:,} charge lines ({c['charges_cd']:,} CD), "
                  f"{c['procedures']:,} procedures, {c['visits']:,} visits / A01 events, "
                  f"{c['billing_accounts']:,} billing accounts, {c['gl_journal_lines']:,} GL "
                  f"lines; warehouse file {r['data']['db_mb']:,.0f} MiB; build "
                  f"{r['build_seconds']:.0f} s. Floor: {floor['keys']:,} keys, "
                  f"{floor['differing']:,} with differing quantities. refresh_canonical "
                  f"{runner['refresh_seconds']:.2f} s (not in the runner figure).", ""]
        parts += sanity_lines(r) + [""] + profile_lines(r) + [""]
    return "\n".join(parts).rstrip() + "\n"


RESULTS_HEADER = """# Benchmarks

Scripts in `bench/` measure ChartLedger on synthetic data generated on the spot (the rule runner's
is built in DuckDB alone, no files). Each one prints its figures and replaces its own section
below; figures are only ever ones measured on the machine named in the section. Run from the
repository root with the project's virtual environment, e.g.

    .venv/bin/python bench/rule_runner.py --rows 1000000 10000000 --memory-limit 3GB --threads 2

"""


def write_results(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else RESULTS_HEADER
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "")
    RESULTS.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000],
                   help="charge lines in the window, one benchmark each")
    p.add_argument("--memory-limit", nargs="+", default=["3GB"],
                   help="DuckDB memory_limit of the measurements (floor and runner for each)")
    p.add_argument("--gen-memory-limit", default="8GB", help="DuckDB memory_limit while building")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1, help="runner runs per size and limit (best kept)")
    p.add_argument("--floor-repeat", type=int, default=3, help="floor runs (best kept)")
    p.add_argument("--work", type=Path, help="work directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the warehouse files")
    p.add_argument("--no-profile", action="store_true", help="skip the per-statement profile run")
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    p.add_argument("--child", choices=("floor", "runner", "profile"), help=argparse.SUPPRESS)
    p.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--temp-dir", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        args.memory_limit = args.memory_limit[0]
        if args.child == "floor":
            result = child_floor(args)
        else:
            result = child_runner(args, profile=args.child == "profile")
        args.out.write_text(json.dumps(result, default=str))
        return 0

    created = args.work is None
    args.work = Path(args.work or tempfile.mkdtemp(prefix="chartledger-bench-")).resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    command = "python bench/rule_runner.py " + " ".join(sys.argv[1:] if argv is None else argv)
    machine = machine_info()
    print(f"machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory_gb']} GB; "
          f"duckdb {machine['duckdb']}; commit {machine['commit']}"
          + (f" + uncommitted {', '.join(machine['dirty'])}" if machine["dirty"] else ""),
          flush=True)
    print(f"work directory: {args.work}; memory_limit {', '.join(args.memory_limit)}, "
          f"threads {args.threads}", flush=True)
    results = []
    try:
        for rows in args.rows:
            db = args.work / f"bench_{rows}.duckdb"
            t0 = time.perf_counter()
            data = build_warehouse(db, rows, args)
            build_s = time.perf_counter() - t0
            print(f"\n[{rows:,}] built {data['counts']['charges']:,} charge lines, "
                  f"{data['counts']['procedures']:,} procedures in {build_s:.0f} s "
                  f"({data['db_mb']:,.0f} MiB)", flush=True)
            r = {"rows": rows, "data": data, "build_seconds": build_s, "measurements": []}
            for limit in args.memory_limit:
                r["measurements"].append(measure("floor", db, limit, args.floor_repeat, args, rows))
                r["measurements"].append(measure("runner", db, limit, args.repeat, args, rows))
            if not args.no_profile:
                r["measurements"].append(measure("profile", db, args.memory_limit[0], 1, args, rows))
            results.append(r)
            print("\n".join(["", *result_tables([r]), "", *verdict_lines([r]), "",
                             *sanity_lines(r), "", *profile_lines(r)]), flush=True)
            if not args.keep:
                for f in db.parent.glob(db.name + "*"):
                    f.unlink()
    finally:
        if created and not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    (print if args.no_results else write_results)(markdown_section(results, machine, command))
    if not args.no_results:
        print(f"\nupdated {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
