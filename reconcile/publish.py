"""Publish the analyst database: a new read-only DuckDB file, atomically put in place.

Analysts never open the warehouse the pipeline writes. After each run the published tables are
copied into a new file (documented with COMMENT ON from sql/publish/dictionary.toml, with views),
which then replaces the published one with a rename: a session holding the old file keeps
reading it undisturbed, and the next session opens the new one. No MRN, name or birth date is
published (checked), and the quarantine is published without the offending values.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile.config import validate_identifier
from reconcile.sqlfiles import run_sql_file, sql_dir

# Published tables whose source in the warehouse has another name.
SOURCES = {"ops.rejections": "staging.rejected_rows", "ops.rejected_files": "staging.rejected_files"}
VIEWS_OF_EXCEPTIONS = (
    "open_exceptions", "queue_department", "queue_compliance", "queue_revenue_integrity",
    "queue_chargemaster", "queue_patient_access", "queue_integration", "queue_supply_chain",
    "queue_pharmacy", "queue_general_ledger", "queue_patient_accounting", "queue_payroll",
)
PHI_COLUMNS = ("mrn", "patient_name", "first_name", "last_name", "birth_date", "dob")


@dataclass(frozen=True)
class PublishedTable:
    name: str  # schema.table
    description: str
    columns: dict[str, str]


def load_dictionary() -> list[PublishedTable]:
    data = tomllib.loads((sql_dir() / "publish" / "dictionary.toml").read_text(encoding="utf-8"))
    return [PublishedTable(name, spec["description"], dict(spec["columns"]))
            for name, spec in data["tables"].items()]


def publish(con: duckdb.DuckDBPyConnection, target: Path) -> Path:
    """Copy the published tables from the warehouse (`con`) into `target`, atomically."""
    tables = load_dictionary()
    _remove_abandoned_copies(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_path(tmp)
    con.execute(f"ATTACH '{tmp}' AS publishing")
    try:
        for table in tables:
            _copy(con, table)
    finally:
        con.execute("DETACH publishing")
    out = duckdb.connect(str(tmp))
    try:
        run_sql_file(out, "ddl/40_recon_queues.sql")
        run_sql_file(out, "publish/views.sql")
        exceptions = next(t for t in tables if t.name == "recon.exceptions")
        for view in VIEWS_OF_EXCEPTIONS:
            for column, text in exceptions.columns.items():
                if column not in ("status", "resolved_at"):
                    out.execute(f'COMMENT ON COLUMN recon."{validate_identifier(view, "view")}".'
                                f'"{column}" IS {_literal(text)}')
        for table in tables:
            schema, name = _split(table.name)
            out.execute(f'COMMENT ON TABLE "{schema}"."{name}" IS {_literal(table.description)}')
            for column, text in table.columns.items():
                out.execute(f'COMMENT ON COLUMN "{schema}"."{name}"."{column}" IS {_literal(text)}')
        out.execute("CHECKPOINT")
    finally:
        out.close()
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    write_data_dictionary(tables, target.with_name("DATA_DICTIONARY.md"))
    return target


def _remove_abandoned_copies(target: Path) -> None:
    """Delete half-written copies left by a publish whose process died (killed mid-publish)."""
    prefix = f".{target.name}."
    for path in target.parent.glob(f"{prefix}*.tmp*"):
        pid = path.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _copy(con: duckdb.DuckDBPyConnection, table: PublishedTable) -> None:
    schema, name = _split(table.name)
    source = SOURCES.get(table.name, table.name)
    src_schema, src_name = _split(source)
    available = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = $s AND table_name = $t "
        "ORDER BY ordinal_position", {"s": src_schema, "t": src_name}).fetchall()]
    missing = [c for c in table.columns if c not in available]
    if missing:
        raise ValueError(f"{source} lacks documented column(s) {', '.join(missing)}")
    undocumented = [c for c in available if c not in table.columns
                    and not (table.name in SOURCES and c == "value")]
    if undocumented:
        raise ValueError(f"{source} has undocumented column(s) {', '.join(undocumented)}: "
                         "add them to sql/publish/dictionary.toml")
    phi = [c for c in table.columns if c.lower() in PHI_COLUMNS]
    if phi:
        raise ValueError(f"{table.name} would publish patient identifiers: {', '.join(phi)}")
    columns = ", ".join(f'"{c}"' for c in table.columns)
    con.execute(f'CREATE SCHEMA IF NOT EXISTS publishing."{schema}"')
    con.execute(f'CREATE TABLE publishing."{schema}"."{name}" AS '
                f'SELECT {columns} FROM "{src_schema}"."{src_name}"')


def write_data_dictionary(tables: list[PublishedTable], path: Path) -> Path:
    lines = ["# ChartLedger analyst database: data dictionary", "",
             "Generated from `sql/publish/dictionary.toml` at each publish; the same text is in the",
             "database as `COMMENT ON` (`SELECT * FROM duckdb_columns()`).", ""]
    for table in tables:
        lines += [f"## `{table.name}`", "", table.description, "", "| column | meaning |",
                  "|---|---|"]
        lines += [f"| `{c}` | {text} |" for c, text in table.columns.items()]
        lines.append("")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _split(qualified: str) -> tuple[str, str]:
    schema, _, name = qualified.partition(".")
    return validate_identifier(schema, "schema"), validate_identifier(name, "table")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _check_path(path: Path) -> None:
    if "'" in str(path):
        raise ValueError(f"path {path} must not contain a quote")
