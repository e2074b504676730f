"""Incremental publish (issue 8): the analyst database starts from a copy of the previous one and
only the partitions that changed are written, with exactly the result of a full publish; any
doubt about the previous file (missing, corrupt, another contract) means a full publish."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from reconcile.config import Settings, default_settings
from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.publish import PublishSummary, load_dictionary, publish_with_summary
from reconcile.sqlfiles import sql_dir
from reconcile.warehouse import Warehouse
from tests.engine_kit import day_range, run_days

START = dt.date(2026, 10, 1)
NIGHTS = 9


@dataclass
class Nights:
    root: Path
    settings: Settings
    summaries: dict[str, PublishSummary] = field(default_factory=dict)


def _publish(settings: Settings, target: Path | None = None, full: bool | None = None
             ) -> PublishSummary:
    with Warehouse(settings.warehouse_path).writer() as con:
        return publish_with_summary(con, target or settings.analyst_path, full=full)


def _full_copy(settings: Settings, root: Path) -> Path:
    folder = root / f"full-{len(list(root.glob('full-*')))}"
    folder.mkdir()
    return _publish(settings, folder / "analyst.duckdb", full=True).target


def _differences(incremental: Path, full: Path) -> dict[str, object]:
    """Per table: (rows, rows, rows only in the first, rows only in the second) where they are
    not equal; and any difference of comments or views."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{incremental}' AS inc (READ_ONLY)")
    con.execute(f"ATTACH '{full}' AS ful (READ_ONLY)")
    try:
        out: dict[str, object] = {}
        for table in load_dictionary():
            counts = con.execute(
                f"SELECT (SELECT count(*) FROM inc.{table.name}), "
                f"(SELECT count(*) FROM ful.{table.name}), "
                f"(SELECT count(*) FROM (FROM inc.{table.name} EXCEPT ALL FROM ful.{table.name})), "
                f"(SELECT count(*) FROM (FROM ful.{table.name} EXCEPT ALL FROM inc.{table.name}))"
            ).fetchone()
            if counts[0] != counts[1] or counts[2] or counts[3]:
                out[table.name] = counts
        catalog = {
            "tables": "SELECT schema_name, table_name, comment FROM duckdb_tables() "
                      "WHERE database_name = $db ORDER BY ALL",
            "columns": "SELECT schema_name, table_name, column_name, data_type, comment "
                       "FROM duckdb_columns() WHERE database_name = $db ORDER BY ALL",
            "views": "SELECT schema_name, view_name, comment, sql FROM duckdb_views() "
                     "WHERE database_name = $db AND NOT internal ORDER BY ALL",
        }
        for what, query in catalog.items():
            a = con.execute(query, {"db": "inc"}).fetchall()
            b = con.execute(query, {"db": "ful"}).fetchall()
            if a != b:
                out[what] = sorted(set(a) ^ set(b))[:5]
        return out
    finally:
        con.close()


def _published_rows(path: Path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Nights:
    """Nine nights of the demo system, published after each; then a backfill of an old day, a
    correction in one old partition, duplicate rows added and one taken away, a change to a small
    table and a night with no change, each published."""
    root = tmp_path_factory.mktemp("incremental_publish")
    generate(root / "landing", GeneratorOptions(start=START, days=NIGHTS, visits_per_day=6, seed=11))
    settings = default_settings(root / "landing", root / "warehouse.duckdb")
    out = Nights(root, settings)
    for day in day_range(START, START + dt.timedelta(days=NIGHTS - 1)):
        run_days(settings, [day])
        out.summaries[day.isoformat()] = _publish(settings)
    run_days(settings, [START + dt.timedelta(days=2)])  # a backfill of an old day
    out.summaries["backfill"] = _publish(settings)
    with Warehouse(settings.warehouse_path).writer() as con:
        # a correction in one old service date of the match evidence (nothing else changes)
        con.execute("UPDATE recon.charge_matches SET posted_qty = posted_qty + 1 "
                    "WHERE service_date = $d", {"d": START + dt.timedelta(days=1)})
    out.summaries["correction"] = _publish(settings)
    with Warehouse(settings.warehouse_path).writer() as con:  # one old row, twice more
        con.execute("INSERT INTO recon.charge_match_lines SELECT * FROM recon.charge_match_lines "
                    "WHERE rowid = (SELECT min(rowid) FROM recon.charge_match_lines) "
                    "UNION ALL SELECT * FROM recon.charge_match_lines "
                    "WHERE rowid = (SELECT min(rowid) FROM recon.charge_match_lines)")
    out.summaries["duplicated"] = _publish(settings)
    with Warehouse(settings.warehouse_path).writer() as con:  # and one of the three copies goes
        con.execute("DELETE FROM recon.charge_match_lines "
                    "WHERE rowid = (SELECT max(rowid) FROM recon.charge_match_lines)")
    out.summaries["one_copy_less"] = _publish(settings)
    with Warehouse(settings.warehouse_path).writer() as con:  # a small table changes
        con.execute("UPDATE recon.rule_catalogue SET description = description || ' (edited)' "
                    "WHERE rule_id = 'MISSING_CHARGE'")
    out.summaries["small"] = _publish(settings)
    out.summaries["unchanged"] = _publish(settings)
    return out


def test_incremental_publish_equals_a_full_publish_table_by_table(nights):
    full = _full_copy(nights.settings, nights.root)
    assert _differences(nights.settings.analyst_path, full) == {}
    # and the comparison would see a difference: one row less in the incremental file
    broken = nights.root / "broken.duckdb"
    shutil.copyfile(nights.settings.analyst_path, broken)
    con = duckdb.connect(str(broken))
    con.execute("DELETE FROM recon.charge_match_lines WHERE rowid = (SELECT min(rowid) "
                "FROM recon.charge_match_lines)")
    con.close()
    assert set(_differences(broken, full)) == {"recon.charge_match_lines"}


def test_every_night_after_the_first_is_incremental_and_documented(nights):
    summaries = nights.summaries
    first = summaries[START.isoformat()]
    assert (first.mode, first.reason) == ("full", "no previous file")
    assert {k: s.mode for k, s in summaries.items() if s is not first} == dict.fromkeys(
        [k for k in summaries if summaries[k] is not first], "incremental")
    con = duckdb.connect(str(nights.settings.analyst_path), read_only=True)
    try:
        undocumented = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE schema_name IN ('recon', 'report', 'ops') AND comment IS NULL").fetchall()
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE comment IS NULL").fetchone()
        views = {r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'recon' AND comment IS NOT NULL"
        ).fetchall()}
    finally:
        con.close()
    assert undocumented == [] and tables == (0,)
    assert {"open_exceptions", "queue_department", "queue_pharmacy", "queue_payroll"} <= views
    assert not list(nights.root.glob(".analyst.duckdb.*tmp*"))  # no temporary copy left behind
    # each incremental publish read the fingerprints the one before recorded
    assert [k for k, s in summaries.items() if s.mode == "incremental"
            and not s.recorded_fingerprints] == [(START + dt.timedelta(days=1)).isoformat()]


def test_only_the_changed_partitions_are_written(nights):
    s = nights.summaries
    night = s[(START + dt.timedelta(days=NIGHTS - 1)).isoformat()]
    matches = night.tables["recon.charge_matches"]
    # a normal night rewrites the service dates of its window that changed, never the history
    assert 0 < matches.replaced < matches.partitions
    assert night.tables["recon.exception_events"].replaced == 1  # the night's own run
    assert night.tables["recon.rule_catalogue"].replaced == 0
    assert night.rows_written < sum(
        _published_rows(nights.settings.analyst_path, t) for t in night.tables)
    # the correction of one old service date: that one partition of that one table
    written = {n: (t.replaced, t.rows_deleted, t.rows_inserted)
               for n, t in s["correction"].tables.items() if t.replaced}
    day2 = _count_where(nights, "recon.charge_matches", "service_date", START + dt.timedelta(days=1))
    assert written == {"recon.charge_matches": (1, day2, day2)}
    # duplicate rows count: the row's copies are deleted and written again, nothing else
    for step, deleted, inserted in (("duplicated", 1, 3), ("one_copy_less", 3, 2)):
        assert {n: (t.replaced, t.rows_deleted, t.rows_inserted)
                for n, t in s[step].tables.items() if t.replaced} == {
            "recon.charge_match_lines": (1, deleted, inserted)}, step
    # a small table that changed is replaced whole, and nothing else is written
    assert {n: t.replaced for n, t in s["small"].tables.items() if t.replaced} == {
        "recon.rule_catalogue": 1}
    assert s["small"].rows_written == _published_rows(nights.settings.analyst_path,
                                                      "recon.rule_catalogue")
    assert s["unchanged"].rows_written == 0
    assert not any(t.replaced for t in s["unchanged"].tables.values())
    # the backfill of an old day rewrote only what it changed (a rerun reproduces the day, so
    # here little or nothing: never the whole history)
    assert s["backfill"].mode == "incremental"
    assert s["backfill"].tables["recon.charge_matches"].replaced < matches.partitions
    assert s["backfill"].rows_written < night.rows_written


def _count_where(nights: Nights, table: str, column: str, value: object) -> int:
    with Warehouse(nights.settings.warehouse_path).reader() as con:
        return con.execute(f"SELECT count(*) FROM {table} WHERE {column} = $v",
                           {"v": value}).fetchone()[0]


def _previous(nights: Nights, tmp_path: Path) -> Path:
    """A private copy of the published file to publish over (the fixture's stays intact)."""
    target = tmp_path / "analyst.duckdb"
    shutil.copyfile(nights.settings.analyst_path, target)
    return target


def test_a_dictionary_change_publishes_in_full(nights, tmp_path, monkeypatch):
    sql = tmp_path / "sql"
    shutil.copytree(sql_dir(), sql)
    dictionary = sql / "publish" / "dictionary.toml"
    text = dictionary.read_text(encoding="utf-8")
    edited = text.replace('rule_id = "Rule id."', 'rule_id = "Rule id (see reconciliation.md)."')
    assert edited != text
    dictionary.write_text(edited, encoding="utf-8")
    monkeypatch.setenv("CHARTLEDGER_SQL_DIR", str(sql))
    target = _previous(nights, tmp_path)
    summary = _publish(nights.settings, target)
    assert summary.mode == "full" and "descriptions differ" in summary.reason
    con = duckdb.connect(str(target), read_only=True)
    comment = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = "
                          "'rule_catalogue' AND column_name = 'rule_id'").fetchone()[0]
    con.close()
    assert comment == "Rule id (see reconciliation.md)."


@pytest.mark.parametrize("change", [
    "ALTER TABLE recon.rule_runs ALTER rules TYPE VARCHAR[] USING [rules]",
    "ALTER TABLE recon.supply_matches DROP COLUMN refs",
    "CREATE TABLE recon.retired AS SELECT 1 AS x",
])
def test_a_schema_change_publishes_in_full(nights, tmp_path, change):
    target = _previous(nights, tmp_path)
    con = duckdb.connect(str(target))
    con.execute(change)
    con.close()
    summary = _publish(nights.settings, target)
    assert summary.mode == "full", summary.reason
    assert _differences(target, _full_copy(nights.settings, tmp_path)) == {}


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "empty"])
def test_a_missing_or_corrupt_previous_file_publishes_in_full(nights, tmp_path, damage):
    target = _previous(nights, tmp_path)
    if damage == "missing":
        target.unlink()
    elif damage == "garbage":
        target.write_bytes(b"not a database" * 10_000)
    elif damage == "truncated":
        with target.open("r+b") as handle:
            handle.truncate(target.stat().st_size // 2)
    else:
        target.write_bytes(b"")
    summary = _publish(nights.settings, target)
    assert summary.mode == "full"
    assert summary.reason == "no previous file" if damage == "missing" else summary.reason
    assert _differences(target, _full_copy(nights.settings, tmp_path)) == {}
    assert not list(tmp_path.glob(".analyst.duckdb.*tmp*"))


def test_a_published_file_changed_in_place_is_brought_back(nights, tmp_path):
    """The recorded fingerprints belong to the bytes they were recorded for: a published file
    changed behind the pipeline's back (here a row deleted from an old partition, a comment
    changed) is hashed again and repaired, not trusted."""
    target = _previous(nights, tmp_path)
    shutil.copyfile(nights.root / ".analyst.duckdb.fingerprints.json",
                    tmp_path / ".analyst.duckdb.fingerprints.json")
    assert _publish(nights.settings, target).recorded_fingerprints  # untouched: used
    con = duckdb.connect(str(target))
    con.execute("DELETE FROM recon.charge_match_lines WHERE rowid = (SELECT min(rowid) "
                "FROM recon.charge_match_lines)")
    con.close()
    summary = _publish(nights.settings, target)
    assert summary.mode == "incremental" and not summary.recorded_fingerprints
    assert {n: t.rows_inserted for n, t in summary.tables.items() if t.replaced} == {
        "recon.charge_match_lines": 1}
    assert _differences(target, _full_copy(nights.settings, tmp_path)) == {}


def test_a_full_publish_can_be_asked_for(nights, tmp_path, monkeypatch):
    target = _previous(nights, tmp_path)
    assert _publish(nights.settings, target, full=True).reason == "asked for"
    monkeypatch.setenv("CHARTLEDGER_PUBLISH_FULL", "1")
    assert _publish(nights.settings, target).mode == "full"
    monkeypatch.delenv("CHARTLEDGER_PUBLISH_FULL")
    assert _publish(nights.settings, target).mode == "incremental"


def test_chartledger_publish_command(nights, capsys):
    from reconcile.cli import main

    warehouse = str(nights.settings.warehouse_path)
    assert main(["publish", "--warehouse", warehouse]) == 0
    assert "incremental, 0 rows written" in capsys.readouterr().out
    assert main(["publish", "--warehouse", warehouse, "--full"]) == 0
    assert "full (asked for)" in capsys.readouterr().out
