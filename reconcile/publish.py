"""Publish the analyst database: a new read-only DuckDB file, atomically put in place.

Analysts never open the warehouse the pipeline writes. After each run the published tables are
brought into a new file (documented with COMMENT ON from sql/publish/dictionary.toml, with views),
which then replaces the published one with a rename: a session holding the old file keeps
reading it undisturbed, and the next session opens the new one. No MRN, name or birth date is
published (checked), and the quarantine is published without the offending values.

Incremental publish (issue 8). The big recon tables grow with history while a normal night
changes only the rows of its 14-day window, so copying every row every night made the publish
cost grow night after night. The new file therefore starts as a file-level copy of the previous
published file (under the temporary name) and each table is brought up to date with the
warehouse, writing only what differs:

- a table with a `partition` column in the dictionary is compared partition by partition (one
  fingerprint per value of that column on each side); in a partition whose fingerprint differs,
  the rows are compared by row hash and only the rows that differ are deleted and inserted (a
  normal night re-records a few percent of the keys of each day of its window: rewriting whole
  days would write the 14-day window every night);
- a table without one is compared whole and, when it differs, replaced whole.

The published side's fingerprints are those the warehouse had at the previous publish: they are
kept beside the file (`.analyst.duckdb.fingerprints.json`) with the sha256 of the file's bytes,
and used only when the copy just made has exactly that sha256 (computed while copying) and the
same DuckDB version; otherwise the copy's rows are hashed. The views and COMMENT ON statements are
applied in one transaction.

The fingerprint of a set of rows is (count(*), sum(hash(all published columns)) as HUGEINT). The
sum is a multiset hash: it sees duplicate rows and is independent of row order. Two different
sets of rows with equal count and equal 64-bit hash sum go unnoticed only on a hash collision
(about 2^-64 per changed partition), which we accept; `publish(..., full=True)` (or
CHARTLEDGER_PUBLISH_FULL=1) rebuilds the file from scratch when in doubt.

The result is the same file a full publish writes (same tables, columns, types, rows, comments,
views), up to row order. Whenever the previous file cannot serve as the base, the publish is a
full one: no previous file, a file that cannot be opened or read (corrupt), a different set of
tables, columns or column types (a contract change), different comments (a dictionary change),
anything else in it, or a file more than half free blocks (deletes; a full publish compacts it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from reconcile.config import validate_identifier
from reconcile.sqlfiles import run_sql_file, sql_dir

log = logging.getLogger(__name__)

# Published tables whose source in the warehouse has another name.
SOURCES = {"ops.rejections": "staging.rejected_rows", "ops.rejected_files": "staging.rejected_files"}
VIEWS_OF_EXCEPTIONS = (
    "open_exceptions", "queue_department", "queue_compliance", "queue_revenue_integrity",
    "queue_chargemaster", "queue_patient_access", "queue_integration", "queue_supply_chain",
    "queue_pharmacy", "queue_general_ledger", "queue_patient_accounting", "queue_payroll",
)
PHI_COLUMNS = ("mrn", "patient_name", "first_name", "last_name", "birth_date", "dob")
ENV_FULL = "CHARTLEDGER_PUBLISH_FULL"
COPY_CHUNK = 8 << 20
# A previous file with more free than used blocks is not reused: a full publish compacts it.
MAX_FREE_SHARE = 0.5


@dataclass(frozen=True)
class PublishedTable:
    name: str  # schema.table
    description: str
    columns: dict[str, str]
    partition: str | None = None  # column compared partition by partition (incremental publish)


@dataclass
class TableSync:
    """What an incremental publish did to one table."""

    partitions: int = 0  # partitions in the warehouse (1 for a table compared whole)
    replaced: int = 0  # partitions with rows deleted and inserted (whole table: 0 or 1)
    rows_deleted: int = 0
    rows_inserted: int = 0
    # the table's fingerprints as published: {partition value: (count, hash sum)}, one entry
    # (key None) for a table compared whole; empty after a full publish (not computed)
    fingerprints: dict = field(default_factory=dict, repr=False)


@dataclass
class PublishSummary:
    target: Path
    mode: str = "full"  # full | incremental
    reason: str = ""  # why a publish was full
    recorded_fingerprints: bool = False  # the previous file's recorded fingerprints were used
    seconds: float = 0.0
    tables: dict[str, TableSync] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return sum(t.rows_inserted for t in self.tables.values())


class _Fallback(Exception):
    """The previous file cannot serve as the base of an incremental publish."""


def load_dictionary() -> list[PublishedTable]:
    data = tomllib.loads((sql_dir() / "publish" / "dictionary.toml").read_text(encoding="utf-8"))
    tables = []
    for name, spec in data["tables"].items():
        partition = spec.get("partition")
        if partition is not None and partition not in spec["columns"]:
            raise ValueError(f"{name}: partition column {partition!r} is not a documented column")
        tables.append(PublishedTable(name, spec["description"], dict(spec["columns"]), partition))
    return tables


def publish(con: duckdb.DuckDBPyConnection, target: Path, full: bool | None = None) -> Path:
    """Bring the published tables from the warehouse (`con`) into `target`, atomically."""
    return publish_with_summary(con, target, full).target


def publish_with_summary(con: duckdb.DuckDBPyConnection, target: Path,
                         full: bool | None = None) -> PublishSummary:
    """`publish`, returning what it did. `full` (default: CHARTLEDGER_PUBLISH_FULL set to 1)
    rebuilds the file from scratch instead of starting from the previous one."""
    started = time.perf_counter()
    if full is None:
        full = os.environ.get(ENV_FULL, "").strip().lower() in ("1", "true", "yes")
    tables = load_dictionary()
    _remove_abandoned_copies(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _unlink_copy(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_path(tmp)
    summary = PublishSummary(target)
    try:
        if full:
            summary.reason = "asked for"
        elif not target.exists():
            summary.reason = "no previous file"
        else:
            try:
                _incremental(con, tables, target, tmp, summary)
                summary.mode = "incremental"
            except _Fallback as exc:
                summary.reason = str(exc)
                summary.tables.clear()
                _unlink_copy(tmp)
                log.warning("publish: full publish, %s", exc)
        if summary.mode == "full":
            _full(con, tables, tmp, summary)
        _document(tmp, tables, incremental=summary.mode == "incremental")
        digest = _fsync_and_digest(tmp)
    except BaseException:
        _unlink_copy(tmp)  # (a killed process leaves it: the next publish removes it)
        raise
    os.replace(tmp, target)
    _record_fingerprints(target, digest, tables, summary)
    write_data_dictionary(tables, target.with_name("DATA_DICTIONARY.md"))
    summary.seconds = time.perf_counter() - started
    replaced = {n: t.replaced for n, t in summary.tables.items() if t.replaced}
    log.info("publish %s (%s) in %.2f s: %s rows written; partitions replaced %s",
             summary.mode, summary.reason or "previous file reused", summary.seconds,
             summary.rows_written, replaced)
    return summary


def _full(con: duckdb.DuckDBPyConnection, tables: list[PublishedTable], tmp: Path,
          summary: PublishSummary) -> None:
    con.execute(f"ATTACH '{tmp}' AS publishing")
    try:
        for table in tables:
            summary.tables[table.name] = _copy(con, table)
    finally:
        con.execute("DETACH publishing")


def _incremental(con: duckdb.DuckDBPyConnection, tables: list[PublishedTable], target: Path,
                 tmp: Path, summary: PublishSummary) -> None:
    """Copy the previous file to `tmp` and bring its tables up to date; _Fallback when it cannot
    serve (the caller then removes the copy and publishes in full)."""
    try:
        digest = _copy_file(target, tmp)
    except OSError as exc:
        raise _Fallback(f"previous file not copied: {exc}") from exc
    recorded = _recorded_fingerprints(target, digest)
    summary.recorded_fingerprints = bool(recorded)
    try:
        con.execute(f"ATTACH '{tmp}' AS publishing")
    except duckdb.Error as exc:
        raise _Fallback(f"previous file does not open: {_first_line(exc)}") from exc
    try:
        problem = _contract_problem(con, tables)
        if problem:
            raise _Fallback(problem)
        for table in tables:
            summary.tables[table.name] = _copy(con, table, incremental=True,
                                               published_fingerprints=recorded.get(table.name))
    except duckdb.Error as exc:
        # e.g. a block of the previous file fails its checksum: correctness first
        _rollback(con)
        raise _Fallback(f"previous file not reusable: {_first_line(exc)}") from exc
    finally:
        con.execute("DETACH publishing")


def _contract_problem(con: duckdb.DuckDBPyConnection, tables: list[PublishedTable]) -> str:
    """Why the attached previous file is not the same contract as this publish ('' if it is)."""
    size = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size() "
                       "WHERE database_name = 'publishing'").fetchone()
    if size and size[0] and size[1] > MAX_FREE_SHARE * size[0]:
        return f"previous file has {size[1]} of {size[0]} blocks free (compacting)"
    schemas = {r[0] for r in con.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = 'publishing'").fetchall()}
    extra = schemas - {"main", "pg_catalog", "information_schema"} - {
        t.name.partition(".")[0] for t in tables}
    if extra:
        return f"previous file has other schemas: {', '.join(sorted(extra))}"
    found = {f"{s}.{t}": c for s, t, c in con.execute(
        "SELECT schema_name, table_name, comment FROM duckdb_tables() "
        "WHERE database_name = 'publishing'").fetchall()}
    wanted = {t.name: t.description for t in tables}
    if set(found) != set(wanted):
        diff = sorted(set(found) ^ set(wanted))
        return f"tables differ from the dictionary: {', '.join(diff)}"
    if found != wanted:
        return "table descriptions differ from the dictionary"
    other = con.execute(
        "SELECT (SELECT count(*) FROM duckdb_sequences() WHERE database_name = 'publishing') + "
        "(SELECT count(*) FROM duckdb_indexes() WHERE database_name = 'publishing') + "
        "(SELECT count(*) FROM duckdb_functions() WHERE database_name = 'publishing' "
        "AND NOT internal)").fetchone()[0]
    if other:
        return "previous file holds other objects (sequences, indexes or macros)"
    columns: dict[str, list[tuple[str, str, str]]] = {}
    for schema, name, column, dtype, comment in con.execute(
            "SELECT schema_name, table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE database_name = 'publishing' ORDER BY schema_name, table_name, column_index"
    ).fetchall():
        columns.setdefault(f"{schema}.{name}", []).append((column, dtype, comment))
    for table in tables:
        types = _source_types(con, table)
        expected = [(c, types.get(c, "?"), text) for c, text in table.columns.items()]
        have = columns.get(table.name, [])
        if [(c, t) for c, t, _ in have] != [(c, t) for c, t, _ in expected]:
            return f"{table.name}: columns or types differ from the warehouse and dictionary"
        if have != expected:
            return f"{table.name}: column descriptions differ from the dictionary"
    return ""


def _remove_abandoned_copies(target: Path) -> None:
    """Delete half-written copies left by a publish whose process died (killed mid-publish)."""
    prefix = f".{target.name}."
    for path in target.parent.glob(f"{prefix}*.tmp*"):
        pid = path.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _unlink_copy(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
    tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _source_columns(con: duckdb.DuckDBPyConnection, table: PublishedTable) -> tuple[str, str]:
    """The warehouse table behind a published table, checked against the dictionary: every
    documented column present, no undocumented one, no patient identifier."""
    source = SOURCES.get(table.name, table.name)
    src_schema, src_name = _split(source)
    available = list(_source_types(con, table))
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
    return src_schema, src_name


def _source_types(con: duckdb.DuckDBPyConnection, table: PublishedTable) -> dict[str, str]:
    src_schema, src_name = _split(SOURCES.get(table.name, table.name))
    return dict(con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = $s AND table_name = $t "
        "ORDER BY column_index", {"s": src_schema, "t": src_name}).fetchall())


def _copy(con: duckdb.DuckDBPyConnection, table: PublishedTable, incremental: bool = False,
          published_fingerprints: dict | None = None) -> TableSync:
    """Bring one table into the attached `publishing` file: created from the warehouse (full),
    or brought up to date with it where its fingerprints differ (incremental)."""
    src_schema, src_name = _source_columns(con, table)
    schema, name = _split(table.name)
    columns = ", ".join(f'"{c}"' for c in table.columns)
    source = f'"{src_schema}"."{src_name}"'
    published = f'publishing."{schema}"."{name}"'
    if not incremental:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS publishing."{schema}"')
        con.execute(f"CREATE TABLE {published} AS SELECT {columns} FROM {source}")
        rows = con.execute(f"SELECT count(*) FROM {published}").fetchone()[0]
        return TableSync(partitions=1, replaced=1, rows_inserted=rows)
    fingerprint = f"count(*), sum(hash({columns})::HUGEINT)"
    if table.partition is None:
        new = tuple(con.execute(f"SELECT {fingerprint} FROM {source}").fetchone())
        old = (published_fingerprints or {}).get(None) or tuple(
            con.execute(f"SELECT {fingerprint} FROM {published}").fetchone())
        sync = (TableSync(partitions=1) if new == old
                else _replace_whole(con, published, source, columns))
        sync.fingerprints = {None: new}
        return sync
    part = f'"{validate_identifier(table.partition, "partition column")}"'
    query = f"SELECT {part}, {fingerprint} FROM {{}} GROUP BY {part}"
    new_parts = {r[0]: tuple(r[1:]) for r in con.execute(query.format(source)).fetchall()}
    old_parts = published_fingerprints
    if old_parts is None:
        old_parts = {r[0]: tuple(r[1:]) for r in con.execute(query.format(published)).fetchall()}
    changed = [p for p in new_parts.keys() | old_parts.keys()
               if new_parts.get(p) != old_parts.get(p)]
    sync = TableSync(partitions=len(new_parts), fingerprints=new_parts)
    if not changed:
        return sync
    dtype = _source_types(con, table)[table.partition]
    sync.replaced = len(changed)
    row_key = f"hash({columns})"
    con.execute("BEGIN TRANSACTION")
    try:
        for value in sorted(changed, key=lambda v: (v is None, v)):
            # NULL is a partition of its own (the IS NOT DISTINCT FROM of a partition value)
            where = f"{part} IS NULL" if value is None else f"{part} = $p::{dtype}"
            params = {} if value is None else {"p": value}
            if value not in old_parts:  # a new partition (e.g. tonight's service date)
                sync.rows_inserted += con.execute(
                    f"INSERT INTO {published} ({columns}) SELECT {columns} FROM {source} "
                    f"WHERE {where}", params).fetchone()[0]
                continue
            if value not in new_parts:  # gone from the warehouse
                sync.rows_deleted += con.execute(
                    f"DELETE FROM {published} WHERE {where}", params).fetchone()[0]
                continue
            # Within a changed partition only the rows that differ are written: the row keys
            # (hash of the row) whose number of rows differs between the two sides; every row of
            # such a key is deleted from the copy and inserted again from the warehouse. Rows of
            # the other keys are the same on both sides (an old row and its new version with one
            # 64-bit hash go unseen, with the same odds as the partition fingerprint above).
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE publish_changed_rows AS SELECT k FROM ("
                f"SELECT {row_key} AS k, 1 AS n FROM {source} WHERE {where} UNION ALL "
                f"SELECT {row_key}, -1 FROM {published} WHERE {where}) GROUP BY k "
                f"HAVING sum(n) <> 0", params)
            changed_rows = f"{where} AND {row_key} IN (SELECT k FROM temp.publish_changed_rows)"
            sync.rows_deleted += con.execute(
                f"DELETE FROM {published} WHERE {changed_rows}", params).fetchone()[0]
            sync.rows_inserted += con.execute(
                f"INSERT INTO {published} ({columns}) SELECT {columns} FROM {source} "
                f"WHERE {changed_rows}", params).fetchone()[0]
        con.execute("DROP TABLE IF EXISTS temp.publish_changed_rows")
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    return sync


def _replace_whole(con: duckdb.DuckDBPyConnection, published: str, source: str, columns: str
                   ) -> TableSync:
    """Replace every row of `published` with those of `source`, in one transaction (written to
    the temporary copy only)."""
    sync = TableSync(partitions=1, replaced=1)
    con.execute("BEGIN TRANSACTION")
    try:
        sync.rows_deleted = con.execute(f"DELETE FROM {published}").fetchone()[0]
        sync.rows_inserted = con.execute(
            f"INSERT INTO {published} ({columns}) SELECT {columns} FROM {source}").fetchone()[0]
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    return sync


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # no transaction open
        con.execute("ROLLBACK")


def _document(tmp: Path, tables: list[PublishedTable], incremental: bool) -> None:
    """Views and COMMENT ON in the new file, then CHECKPOINT (no WAL left beside it)."""
    out = duckdb.connect(str(tmp))
    try:
        out.execute("BEGIN TRANSACTION")  # one commit for every view and comment
        if incremental:  # the views of the previous file go: the same ones as a full publish
            for schema, view in out.execute(
                    "SELECT schema_name, view_name FROM duckdb_views() "
                    "WHERE database_name = current_database() AND NOT internal").fetchall():
                out.execute(f'DROP VIEW "{validate_identifier(schema, "schema")}".'
                            f'"{validate_identifier(view, "view")}"')
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
        out.execute("COMMIT")
        out.execute("CHECKPOINT")
    finally:
        out.close()


def _copy_file(source: Path, dest: Path) -> str:
    """Copy `source` to `dest` and return the sha256 of the bytes copied."""
    digest = hashlib.sha256()
    with source.open("rb") as src, dest.open("wb") as out:
        while chunk := src.read(COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _fsync_and_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fingerprints_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.fingerprints.json")


def _record_fingerprints(target: Path, digest: str, tables: list[PublishedTable],
                         summary: PublishSummary) -> None:
    """Keep the published file's fingerprints beside it, tied to the sha256 of its bytes, so the
    next incremental publish reads them instead of hashing every row of the copy again. Only an
    incremental publish computes them for every table (a full one leaves none: the next publish
    hashes the copy)."""
    path = _fingerprints_path(target)
    path.unlink(missing_ok=True)
    if summary.mode != "incremental":
        return
    try:
        data = {"sha256": digest, "duckdb": duckdb.__version__, "tables": {
            t.name: {"partition": t.partition,
                     "parts": [[_encode(k), *v]
                               for k, v in summary.tables[t.name].fingerprints.items()]}
            for t in tables}}
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, TypeError) as exc:  # the publish stands; the next one hashes the copy
        log.warning("publish: fingerprints not recorded: %s", exc)


def _recorded_fingerprints(target: Path, digest: str) -> dict[str, dict]:
    """{table: {partition value: (count, hash sum)}} recorded for exactly these bytes, else {}."""
    try:
        data = json.loads(_fingerprints_path(target).read_text(encoding="utf-8"))
        if data.get("sha256") != digest or data.get("duckdb") != duckdb.__version__:
            return {}
        current = {t.name: t.partition for t in load_dictionary()}
        return {name: {_decode(k): (n, h) for k, n, h in spec["parts"]}
                for name, spec in data["tables"].items()
                if name in current and current[name] == spec["partition"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _encode(value: object) -> list:
    if value is None:
        return ["null"]
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return ["date", value.isoformat()]
    if isinstance(value, str):
        return ["str", value]
    raise TypeError(f"partition value {value!r} cannot be recorded")


def _decode(item: list) -> object:
    kind = item[0]
    if kind == "null":
        return None
    if kind == "date":
        return dt.date.fromisoformat(item[1])
    if kind == "str":
        return item[1]
    raise ValueError(f"unknown partition value kind {kind!r}")


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


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_path(path: Path) -> None:
    if "'" in str(path):
        raise ValueError(f"path {path} must not contain a quote")
