"""Shared helpers of the hardening tests: a small demo landing, `chartledger` subprocesses, and
state fingerprints that compare two executions of the same days."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile.demo.generator import GeneratorOptions, generate

START = dt.date(2026, 10, 1)
END = dt.date(2026, 10, 3)
# Small but with every feed, defects and two facilities (about 700 rows a day).
OPTIONS = GeneratorOptions(start=START, days=3, facilities=("NORTH", "SOUTH"), visits_per_day=3,
                           seed=5, defect_scale=3.0)
REPO = Path(__file__).resolve().parents[2]
CHARTLEDGER = [sys.executable, "-m", "reconcile.cli"]

# Which run did the work, and when: they differ between two executions of the same days by
# design (ops.run_log, the audit trail, is left out whole).
PROVENANCE_COLUMNS = {"run_id", "load_run_id", "recorded_at", "loaded_at", "rejected_at"}
APPEND_ONLY = {"ops.run_log"}


def make_landing(root: Path) -> Path:
    landing = root / "landing"
    generate(landing, OPTIONS)
    return landing


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTLEDGER_FAULT")}
    env.update({"DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO), **extra})
    return env


def run_args(landing: Path, warehouse: Path, config: Path | None = None, start: dt.date = START,
             end: dt.date = END, command: str = "run", verbose: bool = False) -> list[str]:
    """`chartledger [-v] run|rebuild` over start..end of a site."""
    dates = (["--start", start.isoformat(), "--end", end.isoformat()] if command == "run"
             else ["--from", start.isoformat(), "--to", end.isoformat()])
    return [*CHARTLEDGER, *(["-v"] if verbose else []), command, "--landing", str(landing),
            "--warehouse", str(warehouse), *dates, *(["--config", str(config)] if config else [])]


def chartledger(args: list[str], home: Path, timeout: float = 240,
                **extra: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(args, env=cli_env(home, **extra), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def state_fingerprints(path: Path) -> dict[str, str]:
    """sha256 of every base table's ordered content, provenance columns and the audit trail left
    out: equal for two executions that reached the same state."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('main', 'information_schema') "
            "ORDER BY 1, 2").fetchall()
        out = {}
        for schema, table in tables:
            name = f"{schema}.{table}"
            if name in APPEND_ONLY:
                continue
            columns = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $s AND "
                "table_name = $t ORDER BY ordinal_position", {"s": schema, "t": table}).fetchall()]
            kept = ", ".join(f'"{c}"' for c in columns if c not in PROVENANCE_COLUMNS)
            rows = con.execute(f'SELECT {kept} FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
            out[name] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return out
    finally:
        con.close()


def row_counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute("SELECT schema_name, table_name, estimated_size FROM duckdb_tables()"
                             ).fetchall()
        return {f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
                for s, t, _ in tables}
    finally:
        con.close()


@dataclass(frozen=True)
class Site:
    """A landing directory and a warehouse folder (warehouse, analyst db, Dagster home)."""

    landing: Path
    folder: Path

    @property
    def warehouse(self) -> Path:
        return self.folder / "warehouse.duckdb"

    @property
    def analyst(self) -> Path:
        return self.folder / "analyst.duckdb"

    @property
    def home(self) -> Path:
        return self.folder / "dagster_home"

    def copy_to(self, folder: Path) -> Site:
        shutil.copytree(self.folder, folder)
        return Site(self.landing, folder)
