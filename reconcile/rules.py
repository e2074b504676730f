"""The rule runner: evaluates the catalogue of sql/rules for one as-of date, then the lifecycle."""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from dataclasses import dataclass

import duckdb

from reconcile.config import Thresholds
from reconcile.prepare_plan import needed_statements, prepare_statements, tables_read
from reconcile.sqlfiles import (
    bound_parameters,
    load_sql,
    query_sql_file,
    run_sql_file,
    split_statements,
    sql_dir,
)
from reconcile.warehouse import rollback

log = logging.getLogger(__name__)

RULE_MARKER = "/*RULE*/"
DEFAULT_PAY_PERIOD_ANCHOR = dt.date(2026, 1, 10)  # the demo system's first pay-period end
SEVERITIES = ("high", "medium", "low")
REF_KINDS = ("", "charge_key", "pharmacy_key")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    severity: str
    owner: str
    description: str
    sql_file: str
    row_severity: bool = False
    # "charge_key" / "pharmacy_key": the rule leaves source_refs NULL and the runner lists the
    # records of the charge key (fill_charge_refs.sql) or visit/NDC pair (matches_20_pharmacy.sql)
    refs: str = ""


def load_catalogue() -> list[Rule]:
    """The rules registered in sql/rules/catalogue.toml, in catalogue order."""
    path = sql_dir() / "rules" / "catalogue.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rules = []
    for rule_id, meta in data.items():
        missing = {"severity", "owner", "file", "description"} - set(meta)
        if missing:
            raise ValueError(f"rule {rule_id} in {path} lacks {', '.join(sorted(missing))}")
        if meta["severity"] not in SEVERITIES:
            raise ValueError(f"rule {rule_id}: severity must be one of {SEVERITIES}")
        if not (sql_dir() / "rules" / meta["file"]).is_file():
            raise ValueError(f"rule {rule_id}: sql/rules/{meta['file']} does not exist")
        if meta.get("refs", "") not in REF_KINDS:
            raise ValueError(f"rule {rule_id}: refs must be one of {REF_KINDS[1:]} when given")
        rules.append(Rule(rule_id, meta["severity"], meta["owner"], meta["description"],
                          meta["file"], bool(meta.get("row_severity", False)),
                          meta.get("refs", "")))
    return rules


def rule_parameters(as_of: dt.date, thresholds: Thresholds,
                    pay_period_anchor: dt.date = DEFAULT_PAY_PERIOD_ANCHOR) -> dict[str, object]:
    window_start = as_of - dt.timedelta(days=thresholds.rolling_window_days - 1)
    return {
        "pay_period_anchor": pay_period_anchor,
        "as_of": as_of,
        "window_start": window_start,
        # charge lines posted since then are read too (the GL batches of the window)
        "posted_from": window_start,
        "charge_window_days": thresholds.charge_window_days,
        "late_charge_days": thresholds.late_charge_days,
        "bill_hold_days": thresholds.bill_hold_days,
        "dnfb_alert_days": thresholds.dnfb_alert_days,
        "amount_tolerance": thresholds.amount_tolerance,
        "gl_tolerance": thresholds.gl_tolerance,
    }


def evaluate_day(con: duckdb.DuckDBPyConnection, as_of: dt.date, thresholds: Thresholds,
                 rules: list[Rule] | None = None,
                 pay_period_anchor: dt.date = DEFAULT_PAY_PERIOD_ANCHOR,
                 held_facilities: tuple[str, ...] = ()) -> dict[str, int]:
    """Evaluate every rule as of `as_of` (replacing that date's findings); counts by rule.

    Facilities in `held_facilities` are left out of this night: their findings are dropped and
    their open exceptions keep the state of their last evaluation."""
    rules = rules if rules is not None else load_catalogue()
    params = rule_parameters(as_of, thresholds, pay_period_anchor)
    held = ",".join(sorted(held_facilities))
    statements = [_rule_statement(rule) for rule in rules]
    refs_rules = ",".join(r.rule_id for r in rules if r.refs == "charge_key")
    params["pharmacy_refs_rules"] = ",".join(r.rule_id for r in rules if r.refs == "pharmacy_key")
    # only the temp tables the selected rules read (and the tables those read) are built
    every_step = prepare_statements()
    prepare = needed_statements(every_step, statements)
    built = {p.table for p in prepare}
    # evidence of a family (charges, pharmacy, supplies) only when its tables were built
    evidence = [name for name in _evidence_files()
                if tables_read(load_sql(name), every_step) <= built]
    con.execute("BEGIN TRANSACTION")
    try:
        _sync_catalogue(con, rules)
        for step in prepare:
            con.execute(step.sql, bound_parameters(step.sql, params))
        run_sql_file(con, "recon/begin_evaluation.sql",
                     {**params, "rules": ",".join(r.rule_id for r in rules), "held_facilities": held})
        for rule, statement in zip(rules, statements, strict=True):
            bound = {**params, "rule_id": rule.rule_id, "severity": rule.severity,
                     "owner": rule.owner}
            con.execute(statement, bound_parameters(statement, bound))
        run_sql_file(con, "recon/drop_held_findings.sql", {**params, "held_facilities": held})
        if refs_rules:
            run_sql_file(con, "recon/fill_charge_refs.sql", {**params, "rules": refs_rules})
        run_sql_file(con, "recon/matches_00_final_days.sql", params)
        for name in evidence:
            run_sql_file(con, name, params)
        found = dict(query_sql_file(con, "recon/count_findings.sql", params).fetchall())
        counts = {rule.rule_id: int(found.get(rule.rule_id, 0)) for rule in rules}
        refresh_exceptions(con, params)
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    log.info("evaluated %s: %s", as_of, ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def refresh_exceptions(con: duckdb.DuckDBPyConnection, params: dict) -> None:
    """Bring recon.exceptions and recon.exception_events up to date with evaluation `as_of`:
    by appending that night when it is the latest one, otherwise from the whole history."""
    append_only = query_sql_file(con, "recon/refresh_mode.sql", params).fetchall()[0][0]
    if append_only:
        run_sql_file(con, "recon/refresh_exceptions_latest.sql", params)
    else:
        run_sql_file(con, "recon/refresh_exceptions.sql")


def _rule_statement(rule: Rule) -> str:
    """The rule's SELECT wrapped into the insert of its findings."""
    wrapper = load_sql("recon/insert_findings_row_severity.sql" if rule.row_severity
                       else "recon/insert_findings.sql")
    rule_sql = split_statements(load_sql(f"rules/{rule.sql_file}"))
    if len(rule_sql) != 1:
        raise ValueError(f"sql/rules/{rule.sql_file} must be one SELECT statement")
    return split_statements(wrapper.replace(RULE_MARKER, rule_sql[0]))[0]


def _evidence_files() -> list[str]:
    return [f"recon/{p.name}" for p in sorted((sql_dir() / "recon").glob("matches_*.sql"))
            if p.name != "matches_00_final_days.sql"]


def _sync_catalogue(con: duckdb.DuckDBPyConnection, rules: list[Rule]) -> None:
    for rule in rules:
        run_sql_file(con, "recon/upsert_rule.sql", {
            "rule_id": rule.rule_id, "severity": rule.severity, "owner": rule.owner,
            "description": rule.description, "sql_file": rule.sql_file})
