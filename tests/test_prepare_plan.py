"""The rule runner builds only the prepared temp tables that the selected rules read."""

from __future__ import annotations

import pytest

from reconcile.prepare_plan import (
    PrepareStatement,
    needed_statements,
    prepare_statements,
    strip_comments,
)
from reconcile.rules import _rule_statement, load_catalogue

CHARGE_CAPTURE = ("MISSING_CHARGE", "UNDOCUMENTED_CHARGE", "CHARGE_QTY_MISMATCH",
                  "DUPLICATE_CHARGE")


def _tables(rule_ids: tuple[str, ...] | None) -> list[str]:
    rules = [r for r in load_catalogue() if rule_ids is None or r.rule_id in rule_ids]
    return [s.table for s in needed_statements(prepare_statements(),
                                               [_rule_statement(r) for r in rules])]


def test_whole_catalogue_builds_every_prepared_table_in_file_order():
    assert _tables(None) == [s.table for s in prepare_statements()]


def test_charge_capture_rules_skip_pharmacy_and_ledger_tables():
    tables = _tables(CHARGE_CAPTURE)
    assert "charge_keys" in tables and "asof_charge_lines" in tables
    # charge_keys reads these, so they come along, before it
    for dependency in ("asof_cdm", "asof_visits", "asof_department_map", "charge_duplicate_groups"):
        assert tables.index(dependency) < tables.index("charge_keys")
    for unrelated in ("med_balances", "asof_gl_lines", "asof_accounts", "labor_by_period"):
        assert unrelated not in tables


def test_pharmacy_rule_alone_needs_no_charge_tables():
    tables = _tables(("MED_DISPENSED_NOT_ADMINISTERED",))
    assert "med_balances" in tables
    assert "charge_keys" not in tables and "asof_charge_lines" not in tables


def test_names_in_comments_are_not_dependencies():
    steps = [PrepareStatement("a", "CREATE OR REPLACE TEMP TABLE a AS SELECT 1"),
             PrepareStatement("b", "CREATE OR REPLACE TEMP TABLE b AS SELECT 2 -- not from a")]
    assert [s.table for s in needed_statements(steps, ["SELECT * FROM b"])] == ["b"]
    assert strip_comments("SELECT 1 -- a\nFROM b") == "SELECT 1 \nFROM b"


def test_a_prepare_statement_that_creates_no_temp_table_is_refused(tmp_path, monkeypatch):
    (tmp_path / "recon").mkdir()
    (tmp_path / "recon" / "prepare_99_bad.sql").write_text("DELETE FROM recon.findings;")
    monkeypatch.setattr("reconcile.prepare_plan.sql_dir", lambda: tmp_path)
    monkeypatch.setattr("reconcile.prepare_plan.load_sql",
                        lambda name: (tmp_path / name).read_text())
    with pytest.raises(ValueError, match="must create one temp table"):
        prepare_statements()
