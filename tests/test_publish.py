"""The analyst database: documented, free of patient identifiers, and replaced atomically."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import duckdb

from reconcile.config import default_settings
from reconcile.publish import load_dictionary, publish
from reconcile.warehouse import Warehouse
from tests import slice_fixture
from tests.engine_kit import day_range, run_days


def _reconciled(tmp_path):
    slice_fixture.build(tmp_path / "landing")
    settings = default_settings(tmp_path / "landing", tmp_path / "w.duckdb")
    run_days(settings, day_range(dt.date(2026, 3, 1), dt.date(2026, 3, 8)))
    return settings


def test_every_table_and_column_is_documented_and_no_phi(tmp_path):
    settings = _reconciled(tmp_path)
    with Warehouse(settings.warehouse_path).writer() as con:
        target = publish(con, settings.analyst_path)
    con = duckdb.connect(str(target), read_only=True)
    tables = con.execute("SELECT schema_name || '.' || table_name, comment FROM duckdb_tables() "
                         "ORDER BY 1").fetchall()
    columns = con.execute("SELECT schema_name, table_name, column_name, comment "
                          "FROM duckdb_columns() WHERE schema_name IN ('recon','report','ops')"
                          ).fetchall()
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() "
                                       "WHERE schema_name = 'recon'").fetchall()}
    exceptions = con.execute("SELECT count(*) FROM recon.exceptions").fetchone()[0]
    con.close()
    assert {t for t, _ in tables} == {t.name for t in load_dictionary()}
    assert all(comment for _, comment in tables)
    assert [c for c in columns if not c[3]] == []
    assert not {c[2] for c in columns} & {"mrn", "patient_name", "birth_date"}
    # the quarantine is published without the offending values (they may hold PHI)
    assert "value" not in {c[2] for c in columns if c[:2] == ("ops", "rejections")}
    assert {"open_exceptions", "queue_department", "queue_pharmacy"} <= views
    assert exceptions >= 4
    dictionary = (target.parent / "DATA_DICTIONARY.md").read_text()
    assert "## `recon.exceptions`" in dictionary and "| `amount_impact` |" in dictionary
    # the PHI the fixture's feeds carry (MRN, name, birth date) is in no published value
    con = duckdb.connect(str(target), read_only=True)
    hits = []
    for schema, table, column, _ in columns:
        if (schema, table) in {("recon", v) for v in views}:
            continue
        hits += con.execute(
            f'SELECT \'{schema}.{table}.{column}\' FROM "{schema}"."{table}" '
            f'WHERE CAST("{column}" AS VARCHAR) SIMILAR TO \'.*(MRN0000001|DOE|JANE|19800101).*\''
        ).fetchall()
    con.close()
    assert hits == []


READER = textwrap.dedent("""
    import os, sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    first = con.execute("SELECT count(*), sum(hash(exception_id)) FROM recon.exceptions").fetchone()
    print("ready", flush=True)
    deadline = time.time() + 120  # bounded: stops by itself
    reads = 0
    while time.time() < deadline and not os.path.exists(sys.argv[2]):
        again = con.execute("SELECT count(*), sum(hash(exception_id)) FROM recon.exceptions").fetchone()
        assert again == first, (again, first)
        reads += 1
    con.close()
    print("reads", reads, flush=True)
""")


def test_an_open_analyst_session_neither_blocks_nor_breaks_a_publish(tmp_path):
    settings = _reconciled(tmp_path)
    with Warehouse(settings.warehouse_path).writer() as con:
        publish(con, settings.analyst_path)
    stop = tmp_path / "stop-reading"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(settings.analyst_path),
                               str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "ready"
    # the nightly run goes on: a new day, and two more publishes while the session reads
    run_days(settings, [dt.date(2026, 3, 9)])
    for _ in range(2):
        with Warehouse(settings.warehouse_path).writer() as con:
            publish(con, settings.analyst_path)
    assert reader.poll() is None  # the session is still open: the publishes did not wait for it
    stop.touch()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert int(out.split()[-1]) > 10
    fresh = duckdb.connect(str(settings.analyst_path), read_only=True)
    runs = fresh.execute("SELECT max(as_of_date) FROM recon.rule_runs").fetchone()[0]
    fresh.close()
    assert runs == dt.date(2026, 3, 9)  # a new session sees the new file


def test_a_copy_left_by_a_killed_publish_is_removed_and_a_live_ones_kept(tmp_path):
    settings = _reconciled(tmp_path)
    folder = settings.analyst_path.parent
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process that no longer exists, as a publish killed half-way
    abandoned = [folder / f".{settings.analyst_path.name}.{dead.pid}.tmp",
                 folder / f".{settings.analyst_path.name}.{dead.pid}.tmp.wal"]
    for path in abandoned:
        path.write_bytes(b"half written")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    in_progress = folder / f".{settings.analyst_path.name}.{live.pid}.tmp"
    in_progress.write_bytes(b"another publish is writing this")
    try:
        with Warehouse(settings.warehouse_path).writer() as con:
            publish(con, settings.analyst_path)
        assert not any(p.exists() for p in abandoned)
        assert in_progress.exists()
    finally:
        live.kill()
        live.wait()
