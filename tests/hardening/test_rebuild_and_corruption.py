"""A corrupted warehouse is detected when it is opened, with a clear message naming the
recovery, and `chartledger rebuild` replays the landing archive into a new file that is swapped in
atomically (the old one kept as a backup), giving the tables of the nightly runs."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconcile.channels.state import get_watermark, set_watermark
from reconcile.config import default_settings
from reconcile.rebuild import RebuildError, rebuild
from reconcile.run_lock import RunLockBusy, run_lock
from reconcile.warehouse import Warehouse, WarehouseCorruptError
from tests.engine_kit import day_range, run_days
from tests.hardening.kit import END, START, chartledger, run_args, state_fingerprints


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_corrupted_warehouse_is_refused_and_rebuild_restores_the_nightly_tables(reference, tmp_path):
    site = reference.site.copy_to(tmp_path / "site")
    with site.warehouse.open("r+b") as handle:  # the database header's checksummed block
        handle.seek(4096)
        handle.write(b"\xa5" * 64)
    damaged = sha(site.warehouse)

    refused = chartledger(run_args(site.landing, site.warehouse, reference.config,
                                   start=END, end=END), site.home)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"warehouse {site.warehouse} is corrupted" in refused.stderr
    assert "chartledger rebuild --from" in refused.stderr and "Traceback" not in refused.stderr
    assert sha(site.warehouse) == damaged  # nothing was written to it

    done = chartledger(run_args(site.landing, site.warehouse, reference.config,
                                command="rebuild"), site.home)
    assert done.returncode == 0, done.stdout + done.stderr
    backups = list(site.folder.glob("warehouse.duckdb.bak-*"))
    assert len(backups) == 1 and sha(backups[0]) == damaged
    assert "NOT carried over" in done.stdout  # the damaged file's audit trail cannot be read
    assert state_fingerprints(site.warehouse) == state_fingerprints(reference.site.warehouse)
    assert state_fingerprints(site.analyst) == state_fingerprints(reference.site.analyst)
    assert not list(site.folder.glob(".rebuild-*"))


@pytest.fixture
def engine_site(tmp_path, reference_started, engine_warehouse):
    """A copy of the engine-built reference warehouse of its own."""
    settings = default_settings(reference_started.site.landing,
                                tmp_path / "wh" / "warehouse.duckdb")
    settings.warehouse_path.parent.mkdir()
    shutil.copy(engine_warehouse, settings.warehouse_path)
    return settings


def engine_replay(days):
    def replay(fresh):
        run_days(fresh, days)
        return True
    return replay


def test_damaged_data_blocks_are_found_by_a_deep_check_and_on_use(engine_site, tmp_path):
    path = tmp_path / "damaged.duckdb"
    path.write_bytes(engine_site.warehouse_path.read_bytes())
    size = path.stat().st_size
    rng = random.Random(3)
    with path.open("r+b") as handle:  # scribble over the middle half of the file
        for offset in range(size // 4, 3 * size // 4, 64 * 1024):
            handle.seek(offset)
            handle.write(rng.randbytes(512))
    warehouse = Warehouse(path)
    with pytest.raises(WarehouseCorruptError, match="chartledger rebuild"):
        warehouse.verify(deep=True)
    with pytest.raises(WarehouseCorruptError), warehouse.reader() as con:
        for (schema, table) in con.execute("SELECT schema_name, table_name FROM duckdb_tables()"
                                           ).fetchall():
            con.execute(f'SELECT sum(hash(t)) FROM "{schema}"."{table}" AS t').fetchall()


def test_rebuild_keeps_a_backup_and_carries_over_what_the_archive_cannot_replay(engine_site):
    target = engine_site.warehouse_path
    set_watermark(Warehouse(target), "rest_api", "gl_journal_lines", "2026-10-03T23:59:00")
    before = state_fingerprints(target)
    old = sha(target)

    result = rebuild(engine_site, START, END, engine_replay(day_range(START, END)),
                     now=dt.datetime(2026, 10, 4, 6, 0))

    assert result.backup == target.with_name("warehouse.duckdb.bak-20261004T060000")
    assert sha(result.backup) == old
    assert any(c.startswith("ops.channel_watermarks (1 rows)") for c in result.carried_over)
    assert get_watermark(Warehouse(target), "rest_api", "gl_journal_lines") == "2026-10-03T23:59:00"
    assert state_fingerprints(target) == before
    assert not list(target.parent.glob(".rebuild-*"))


def test_a_failed_replay_leaves_the_warehouse_untouched(engine_site):
    target = engine_site.warehouse_path
    old = sha(target)
    with pytest.raises(RebuildError, match="untouched"):
        rebuild(engine_site, START, END, lambda fresh: False)
    assert sha(target) == old and not list(target.parent.glob("*.bak-*"))


def test_rebuild_is_refused_while_a_run_holds_the_warehouse(engine_site):
    with run_lock(engine_site.warehouse_path, "run 2026-10-01..2026-10-03"), \
            pytest.raises(RunLockBusy, match="run 2026-10-01..2026-10-03"):
        rebuild(engine_site, START, END, engine_replay([START]))


def test_the_old_files_write_ahead_log_goes_with_the_backup(engine_site):
    """A process that died with committed work only in the WAL: the WAL must not be left beside
    the new file (DuckDB would replay it there); it goes with the backup."""
    target = engine_site.warehouse_path
    code = ("import duckdb, os, sys; c = duckdb.connect(sys.argv[1]); "
            "c.execute(\"INSERT INTO ops.channel_watermarks VALUES ('sftp', 'adt', 'w', "
            "TIMESTAMP '2026-10-04 00:00:00')\"); os._exit(0)")
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, timeout=60)
    wal = target.with_name(target.name + ".wal")
    assert wal.exists()

    result = rebuild(engine_site, START, END, engine_replay(day_range(START, END)))

    assert not wal.exists()
    assert result.backup.with_name(result.backup.name + ".wal").exists()
    assert any(c.startswith("ops.channel_watermarks (1 rows)") for c in result.carried_over)
    Warehouse(target).verify(deep=True)
    assert os.access(target, os.R_OK)
