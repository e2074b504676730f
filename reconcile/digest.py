"""The daily digest: per owner, what the night's run opened, what is open, what it resolved."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb

from reconcile.sqlfiles import query_sql_file, run_sql_file


def build_digest(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[tuple]:
    """Replace report.daily_digest for `as_of` and return its rows, largest open dollars first."""
    run_sql_file(con, "report/build_digest.sql", {"as_of": as_of})
    return query_sql_file(con, "report/digest_rows.sql", {"as_of": as_of}).fetchall()


def write_digest(rows: list[tuple], as_of: dt.date, out_dir: Path) -> Path:
    """A small Markdown file an alert channel can send as is (counts and dollars, no PHI)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# ChartLedger daily digest {as_of.isoformat()}", "",
             "| owner | new | new $ | open | open $ | resolved | resolved $ |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for owner, new, new_d, open_, open_d, resolved, resolved_d in rows:
        lines.append(f"| {owner} | {new} | {new_d:,.2f} | {open_} | {open_d:,.2f} | {resolved} "
                     f"| {resolved_d:,.2f} |")
    total_new = sum(r[1] for r in rows)
    total_open = sum(r[3] for r in rows)
    total_resolved = sum(r[5] for r in rows)
    lines += ["", f"{total_new} new, {total_open} open, {total_resolved} resolved tonight.", ""]
    path = out_dir / f"digest_{as_of.isoformat()}.md"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, path)
    return path
