"""Load one landed file into staging: parse, validate, quarantine, replace on re-delivery.

Everything about one file happens in one transaction, so a file is either loaded whole (valid
rows in staging, rejected rows in quarantine) or not at all (rejected_files says why).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pandas as pd

from reconcile.formats.csvfile import HeaderReport
from reconcile.formats.records import FileRejected, RecordBatch, RowIssue
from reconcile.landing import LandedFile
from reconcile.mapping import SiteMapping
from reconcile.parallel_parse import read_batches
from reconcile.prefetch import prefetch
from reconcile.readers import MODELS
from reconcile.sqlfiles import execute_template, query_sql_file, run_sql_file
from reconcile.validation import validate_batch
from reconcile.warehouse import rollback

log = logging.getLogger(__name__)

LOADED = ("loaded", "replaced")
OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one landed file in this run."""

    relative_path: str
    feed: str
    facility: str | None
    outcome: str  # loaded | replaced | skipped | rejected | incomplete
    rows_loaded: int = 0
    rows_rejected: int = 0
    reason: str | None = None
    sha256: str | None = None
    previous: str | None = None  # for `skipped`: what was decided about this version before


def load_landed_file(con: duckdb.DuckDBPyConnection, landed: LandedFile, run_id: str,
                     now: dt.datetime | None = None,
                     mapping: SiteMapping | None = None) -> FileOutcome:
    """Load `landed` unless this exact version was handled before; return what happened."""
    now = now or dt.datetime.now().replace(microsecond=0)
    name = landed.relative_path
    feed = landed.feed.name
    history = query_sql_file(con, "ops/manifest_lookup.sql", {"file_name": name}).fetchall()
    for sha, outcome, rows_loaded, rows_rejected, control_sha in history:
        # a loaded version is final; a rejected one is judged again when its control file changes
        same_verdict = outcome in LOADED or (
            outcome == "rejected" and control_sha == landed.control_sha256)
        if sha == landed.sha256 and same_verdict:
            return FileOutcome(name, feed, landed.facility, "skipped", rows_loaded or 0,
                               rows_rejected or 0, f"already {outcome}", landed.sha256, outcome)
    if not landed.complete:
        if not any(sha == landed.sha256 for sha, *_ in history):
            _record(con, landed, "incomplete", None, None, "no control file yet", run_id, now)
        return FileOutcome(name, feed, landed.facility, "incomplete",
                           reason="no control file yet (still being written)", sha256=landed.sha256)
    redelivery = any(sha != landed.sha256 and outcome in LOADED
                     for sha, outcome, *_ in history)
    con.execute("BEGIN TRANSACTION")
    try:
        with _heap_frozen():
            loaded, rejected = _load_rows(con, landed, run_id, now, mapping or SiteMapping())
    except FileRejected as exc:
        rollback(con)
        return _reject_file(con, landed, exc.reason, run_id, now)
    except BaseException:
        rollback(con)
        raise
    try:
        outcome = "replaced" if redelivery else "loaded"
        run_sql_file(con, "ops/manifest_supersede.sql",
                     {"file_name": name, "sha256": landed.sha256})
        _record(con, landed, outcome, loaded, rejected, None, run_id, now)
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    log.info("loaded %s: %d rows, %d rejected", name, loaded, rejected)
    return FileOutcome(name, feed, landed.facility, outcome, loaded, rejected, None, landed.sha256)


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """Leave the objects that exist now out of garbage collection while a file loads: the readers
    allocate millions of small tuples, and each full collection would otherwise walk the whole
    heap again (about 10% of the load time). Cycles made during the load are still collected."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _load_rows(con: duckdb.DuckDBPyConnection, landed: LandedFile, run_id: str,
               now: dt.datetime, mapping: SiteMapping) -> tuple[int, int]:
    if landed.control_error:
        raise FileRejected(landed.control_error)
    assert landed.control is not None
    if landed.control.sha256 != landed.sha256:
        raise FileRejected(
            f"checksum mismatch: control file says {landed.control.sha256[:12]}…, "
            f"file is {landed.sha256[:12]}…"
        )
    feed = landed.feed
    table = {"table": feed.staging_table}
    params = {"file_name": landed.relative_path, "extract_date": landed.extract_date.isoformat(),
              "run_id": run_id, "feed": feed.name, "loaded_at": now.isoformat()}
    execute_template(con, "staging/delete_file_rows.sql", table, params)
    run_sql_file(con, "staging/delete_file_rejections.sql", params)
    model = MODELS[feed.name]
    timestamp_columns = _timestamp_columns(model)
    report = HeaderReport()
    records: set[int] = set()
    loaded = rejected_rows = 0

    def validated() -> Iterator[tuple[RecordBatch, pd.DataFrame, list[RowIssue], int]]:
        for batch in read_batches(feed.name, landed.path, report,
                                  dict(mapping.columns) or None):
            records.update(batch.frame["row_number"].tolist())
            records.update(i.row_number for i in batch.issues)
            frame = batch.frame if mapping.empty else mapping.apply(batch.frame)
            valid, issues, bad_rows = validate_batch(frame, model)
            if not valid.empty:
                valid = valid.drop(columns=["row_number"]).assign(
                    row_number=valid["row_number"].astype("int64"))
                # local time of the facility, to the second: offsets and fractions are dropped
                for column in timestamp_columns:
                    valid[column] = valid[column].str.replace(OFFSET, "", regex=True).str.slice(0, 19)
            yield batch, valid, issues, bad_rows

    # parsing and validation run a batch or two ahead of the inserts, in a worker thread
    for batch, valid, issues, bad_rows in prefetch(validated()):
        if not valid.empty:
            con.register("batch", valid)
            try:
                execute_template(con, "staging/insert_rows.sql", table, params)
            finally:
                with contextlib.suppress(duckdb.Error):  # keep the insert's own error visible
                    con.unregister("batch")
            loaded += len(valid)
        issues = batch.issues + issues
        if issues:
            _quarantine(con, issues, params)
            # rows the reader could not parse count once per record; validated rows once each
            rejected_rows += len({i.row_number for i in batch.issues}) + bad_rows
    if len(records) != landed.control.rows:
        raise FileRejected(
            f"row count mismatch: control file says {landed.control.rows}, file has "
            f"{len(records)} records"
        )
    if report.warning:
        log.warning("%s: %s", landed.relative_path, report.warning)
    return loaded, rejected_rows


def _quarantine(con: duckdb.DuckDBPyConnection, issues: list[RowIssue],
                params: dict[str, str]) -> None:
    rejects = pd.DataFrame(
        [(i.row_number, i.check, i.column, i.value, i.reason) for i in issues],
        columns=["row_number", "check", "column", "value", "reason"],
    )
    con.register("rejects", rejects)
    try:
        run_sql_file(con, "staging/insert_rejected_rows.sql", params)
    finally:
        con.unregister("rejects")


def _reject_file(con: duckdb.DuckDBPyConnection, landed: LandedFile, reason: str, run_id: str,
                 now: dt.datetime) -> FileOutcome:
    log.warning("rejected file %s (%s): %s", landed.relative_path, landed.feed.name, reason)
    con.execute("BEGIN TRANSACTION")
    run_sql_file(con, "staging/insert_rejected_file.sql", {
        "feed": landed.feed.name, "file_name": landed.relative_path, "sha256": landed.sha256,
        "extract_date": landed.extract_date.isoformat(), "reason": reason, "run_id": run_id,
        "rejected_at": now.isoformat(),
    })
    _record(con, landed, "rejected", 0, None, reason, run_id, now)
    con.execute("COMMIT")
    return FileOutcome(landed.relative_path, landed.feed.name, landed.facility, "rejected",
                       reason=reason, sha256=landed.sha256)


def _record(con: duckdb.DuckDBPyConnection, landed: LandedFile, outcome: str,
            rows_loaded: int | None, rows_rejected: int | None, reason: str | None, run_id: str,
            now: dt.datetime) -> None:
    run_sql_file(con, "ops/manifest_record.sql", {
        "file_name": landed.relative_path, "feed": landed.feed.name, "facility": landed.facility,
        "extract_date": landed.extract_date.isoformat(), "size_bytes": landed.size_bytes,
        "sha256": landed.sha256, "control_sha256": landed.control_sha256,
        "rows_declared": landed.control.rows if landed.control else None,
        "rows_loaded": rows_loaded, "rows_rejected": rows_rejected, "outcome": outcome,
        "reason": reason, "run_id": run_id, "recorded_at": now.isoformat(),
    })


def _timestamp_columns(model: type) -> list[str]:
    schema = model.to_schema()
    return [name for name, column in schema.columns.items()
            if any(getattr(c, "name", "") == "iso_timestamp" for c in column.checks)]
