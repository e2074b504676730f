"""Rebuild the warehouse from the landing archive: replay the nightly runs into a new file, then
swap it in atomically, keeping the old file as a backup.

The replay itself is passed in (`chartledger rebuild` replays through the same Dagster job as
the nightly runs, so the rebuilt tables are the ones those runs produced). What the landing
archive cannot reproduce (the audit trail, channel watermarks and runs, close packages) is
carried over from the old file when it can still be read, table by table.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from reconcile.config import DuckDBSettings, Settings
from reconcile.run_lock import run_lock
from reconcile.sqlfiles import execute_template
from reconcile.warehouse import Warehouse, WarehouseCorruptError, is_corruption

log = logging.getLogger(__name__)

CARRIED_OVER = (
    ("ops", "run_log"), ("ops", "channel_runs"), ("ops", "channel_watermarks"),
    ("report", "close_runs"), ("report", "close_checklist"), ("report", "revenue_tieout"),
    ("report", "revenue_cutoff"), ("report", "unbilled_accrual"), ("report", "exception_summary"),
    ("report", "kpis"), ("report", "kpi_trend"), ("report", "charge_lag_distribution"),
)

Replay = Callable[[Settings], bool]  # runs the nightly job over the range; False if a step failed


class RebuildError(RuntimeError):
    """The replay failed: the current warehouse was left untouched."""


@dataclass
class RebuildResult:
    warehouse: Path
    backup: Path | None
    carried_over: list[str] = field(default_factory=list)  # "table (n rows)"
    not_carried_over: list[str] = field(default_factory=list)  # "table: reason"


def rebuild(settings: Settings, start: dt.date, end: dt.date, replay: Replay,
            now: dt.datetime | None = None) -> RebuildResult:
    """Replay `start`..`end` into a new warehouse beside the current one and swap it in.

    Holds the current warehouse's run lock throughout, so no nightly run writes the file that is
    about to be replaced. The old file (and its WAL) become `<name>.bak-<timestamp>`.
    """
    target = settings.warehouse_path
    stamp = (now or dt.datetime.now()).strftime("%Y%m%dT%H%M%S")
    with run_lock(target, f"rebuild {start}..{end}"):
        work = target.parent / f".rebuild-{stamp}-{os.getpid()}"
        work.mkdir(parents=True)
        fresh = replace(settings, warehouse_path=work / target.name,
                        outputs_dir=work / "outputs" if settings.outputs_dir is None
                        else settings.outputs_dir)
        if not replay(fresh):
            raise RebuildError(f"the replay of {start}..{end} failed; {target} is untouched "
                               f"(the partial rebuild is left in {work} for inspection)")
        result = RebuildResult(warehouse=target, backup=None)
        if target.exists():
            _carry_over(fresh.warehouse_path, target, result, settings.duckdb)
        Warehouse(fresh.warehouse_path, settings.duckdb).verify(deep=True)
        result.backup = _swap(fresh.warehouse_path, target, stamp)
        _move_published(work, settings)
        shutil.rmtree(work, ignore_errors=True)
    return result


def _carry_over(fresh: Path, old: Path, result: RebuildResult,
                settings: DuckDBSettings | None = None) -> None:
    """Copy CARRIED_OVER tables from `old` into `fresh`, each in its own transaction."""
    if "'" in str(old):
        raise ValueError(f"path {old} must not contain a quote")
    with Warehouse(fresh, settings).writer() as con:
        try:
            con.execute(f"ATTACH '{old}' AS previous (READ_ONLY)")
        except duckdb.Error as exc:
            result.not_carried_over = [f"{s}.{t}: {_first_line(exc)}" for s, t in CARRIED_OVER]
            log.warning("rebuild: the old warehouse cannot be read (%s); nothing carried over",
                        _first_line(exc))
            return
        try:
            present = set(con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = 'previous'").fetchall())
            for schema, table in CARRIED_OVER:
                name = f"{schema}.{table}"
                if (schema, table) not in present:
                    continue
                con.execute("BEGIN TRANSACTION")
                try:
                    rows = execute_template(con, "rebuild/carry_over.sql",
                                            {"schema": schema, "table": table}).fetchone()[0]
                    con.execute("COMMIT")
                    if rows:
                        result.carried_over.append(f"{name} ({rows} rows)")
                except duckdb.Error as exc:
                    con.execute("ROLLBACK")
                    if not is_corruption(exc):
                        raise
                    result.not_carried_over.append(f"{name}: {_first_line(exc)}")
                    log.warning("rebuild: %s not carried over: %s", name, _first_line(exc))
        finally:
            con.execute("DETACH previous")


def _swap(fresh: Path, target: Path, stamp: str) -> Path | None:
    """Put `fresh` at `target` with one rename; the old file (hard-linked, so `target` never goes
    missing) and its WAL become the backup."""
    fresh_wal = fresh.with_name(fresh.name + ".wal")
    if fresh_wal.exists():
        raise WarehouseCorruptError(fresh, "the rebuilt file still has a write-ahead log")
    _fsync(fresh)
    backup = None
    if target.exists():
        backup = target.with_name(f"{target.name}.bak-{stamp}")
        try:
            os.link(target, backup)
        except OSError:
            shutil.copy2(target, backup)
        wal = target.with_name(target.name + ".wal")
        if wal.exists():
            os.replace(wal, backup.with_name(backup.name + ".wal"))
    os.replace(fresh, target)
    _fsync_dir(target.parent)
    return backup


def _move_published(work: Path, settings: Settings) -> None:
    """The analyst database, its data dictionary and the digests built by the replay replace the
    published ones (each by rename: a reader holding the old analyst database is undisturbed)."""
    for name in (settings.analyst_path.name, "DATA_DICTIONARY.md"):
        if (work / name).exists():
            os.replace(work / name, settings.warehouse_path.with_name(name))
    digests = work / "outputs" / "digest"
    if settings.outputs_dir is None and digests.is_dir():
        out = settings.outputs / "digest"
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(digests.iterdir()):
            os.replace(path, out / path.name)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
