"""The whole rule catalogue against the demo generator's ground truth (31 days, 3 facilities)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from reconcile.demo.generator import RULES
from reconcile.rules import load_catalogue
from reconcile.sqlfiles import sql_dir
from reconcile.warehouse import Warehouse
from tests.conftest import MONTH_END, MONTH_START
from tests.engine_kit import run_days
from tests.truth_scoring import KEYS, found_keys, score, truth_keys

START, END = MONTH_START, MONTH_END


@pytest.fixture(scope="module")
def month(demo_month):
    settings = demo_month.settings
    with Warehouse(settings.warehouse_path).reader() as con:
        found = found_keys(con)
        digest = _exceptions_digest(con)
    truth = truth_keys(demo_month.truth_csv, END)
    return settings, truth, found, digest


def _exceptions_digest(con) -> str:
    return con.execute(
        "SELECT md5(string_agg(e::VARCHAR, '|' ORDER BY exception_id)) FROM recon.exceptions e"
    ).fetchone()[0]


def test_catalogue_registers_every_rule_of_the_spec():
    rules = load_catalogue()
    assert [r.rule_id for r in rules] == list(RULES) or {r.rule_id for r in rules} == set(RULES)
    assert len(rules) == 23
    for rule in rules:
        text = (sql_dir() / "rules" / rule.sql_file).read_text()
        header = text.split("\n", 1)[0]
        assert header.startswith(f"-- {rule.rule_id}:"), rule.sql_file
        assert re.search(r"Keys?:", text), f"{rule.sql_file} names no keys"
        assert "Owner:" in text or "owner" in text.lower()
    masters = [r.rule_id for r in rules[:4]]
    assert masters == ["UNKNOWN_CDM", "UNKNOWN_VISIT", "UNMAPPED_DEPARTMENT", "UNMAPPED_ITEM"]


@pytest.mark.parametrize("rule_id", sorted(KEYS))
def test_rule_finds_every_injected_defect_and_nothing_else(month, rule_id, capsys):
    _, truth, found, _ = month
    injected, missed, extra = score(truth, found).get(rule_id, (0, 0, 0))
    with capsys.disabled():
        print(f"\n  {rule_id:<32} injected {injected:>4}  missed {missed:>3}  extra {extra:>3}",
              end="")
    assert injected > 0, f"the demo month injected no {rule_id}"
    assert (missed, extra) == (0, 0)


def test_rerunning_single_days_reproduces_the_exceptions(month):
    settings, _, _, digest = month
    run_days(settings, [START + dt.timedelta(days=4), END], run_id="rerun")
    with Warehouse(settings.warehouse_path).reader() as con:
        assert _exceptions_digest(con) == digest


def test_work_queues_hold_open_exceptions_by_owner_largest_first(month):
    settings, *_ = month
    with Warehouse(settings.warehouse_path).reader() as con:
        owners = dict(con.execute(
            "SELECT owner, count(*) FROM recon.exceptions WHERE status = 'open' GROUP BY 1"
        ).fetchall())
        for view, owner in [("queue_department", "department"), ("queue_pharmacy", "pharmacy"),
                            ("queue_general_ledger", "general ledger")]:
            rows = con.execute(f"SELECT owner, amount_impact FROM recon.{view}").fetchall()
            assert len(rows) == owners[owner]
            dollars = [r[1] for r in rows if r[1] is not None]
            assert dollars == sorted(dollars, reverse=True)


def test_match_evidence_traces_every_charge_key(month):
    settings, truth, *_ = month
    with Warehouse(settings.warehouse_path).reader() as con:
        statuses = dict(con.execute(
            "SELECT match_status, count(*) FROM recon.charge_matches GROUP BY 1").fetchall())
        # a matched key names the records on both sides (charge_match_lines), and they add up
        # to the key's quantities: every documented record and every charge line is listed
        matched_refs = con.execute("""
            SELECT count(*) FROM recon.charge_matches m
            WHERE m.match_status = 'matched' AND NOT (
                EXISTS (SELECT 1 FROM recon.charge_match_lines d
                        WHERE d.side = 'documented'
                          AND d.facility = m.facility AND d.visit_number = m.visit_number
                          AND d.cdm_code = m.cdm_code AND d.service_date = m.service_date)
                AND EXISTS (SELECT 1 FROM recon.charge_match_lines p
                            WHERE p.side = 'posted'
                              AND p.facility = m.facility AND p.visit_number = m.visit_number
                              AND p.cdm_code = m.cdm_code AND p.service_date = m.service_date))
        """).fetchone()[0]
        posted_lines = con.execute("""
            SELECT count(*) FROM recon.charge_match_lines l
            JOIN staging.charges c ON c.transaction_id = l.record_ref AND c.facility = l.facility
            WHERE l.side = 'posted' AND (c.visit_number <> l.visit_number
                                         OR c.cdm_code <> l.cdm_code)
        """).fetchone()[0]
        missing = con.execute(
            "SELECT count(*) FROM recon.charge_matches m JOIN recon.exceptions e "
            "ON e.rule_id = 'MISSING_CHARGE' AND e.status = 'open' AND e.facility = m.facility "
            "AND e.visit_number = m.visit_number AND e.cdm_code = m.cdm_code "
            "AND e.service_date = m.service_date WHERE m.match_status = 'missing'").fetchone()[0]
    assert statuses["matched"] > 1000
    assert matched_refs == 0
    assert posted_lines == 0  # each listed charge line really is one of the key's
    assert missing == sum(1 for k in truth if k[0] == "MISSING_CHARGE")


def test_exceptions_of_rules_that_list_records_name_them(month):
    """Rules with refs = "charge_key" or "pharmacy_key" leave source_refs to the runner; every
    exception they raise still lists the records behind it."""
    listing = {r.rule_id for r in load_catalogue() if r.refs}
    assert {"MISSING_CHARGE", "MED_DISPENSED_NOT_ADMINISTERED",
            "MED_ADMINISTERED_NOT_DISPENSED"} <= listing
    settings = month[0]
    with Warehouse(settings.warehouse_path).reader() as con:
        rows = con.execute(
            "SELECT rule_id, count(*), count(source_refs) FROM recon.exceptions "
            "WHERE list_contains($rules, rule_id) GROUP BY 1", {"rules": sorted(listing)}
        ).fetchall()
    found = {rule_id: (n, listed) for rule_id, n, listed in rows}
    assert {"MISSING_CHARGE", "MED_DISPENSED_NOT_ADMINISTERED",
            "MED_ADMINISTERED_NOT_DISPENSED"} <= set(found)
    assert {rule_id: n for rule_id, (n, _) in found.items()} == \
        {rule_id: listed for rule_id, (_, listed) in found.items()}
