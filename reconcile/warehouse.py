"""The DuckDB warehouse file: one writer at a time, connections always closed, schema from sql/ddl."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from reconcile.config import DuckDBSettings, validate_identifier
from reconcile.sqlfiles import run_sql_file, sql_dir


class WarehouseBusyError(RuntimeError):
    """Another ChartLedger process holds the warehouse's writer lock for longer than we wait."""


class WarehouseCorruptError(RuntimeError):
    """The warehouse file fails DuckDB's own checks (header, checksums, length): it cannot be used
    as it is; the message says how to rebuild it from the landing archive."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"warehouse {path} is corrupted ({detail.strip().splitlines()[0][:300]}). "
            "Nothing was written to it. Recover by rebuilding it from the landing archive: "
            f"chartledger rebuild --from <first day> --to <last day> --landing <landing dir> "
            f"--warehouse {path} (the damaged file is kept beside it as a backup; see "
            "docs/reliability.md)")
        self.path = path


class WarehouseDiskFullError(OSError):
    """A write to the warehouse failed for lack of space: the transaction in progress was rolled
    back, what was committed before is intact, and the run can be repeated once there is room."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(errno.ENOSPC, (
            f"warehouse {path}: the disk is full ({detail.strip().splitlines()[0][:300]}). The "
            "step's transaction was rolled back; everything committed before is intact. Free "
            f"space on {path.parent} and run the day again."))
        self.path = path


def disk_full_cause(exc: BaseException) -> BaseException | None:
    """The exception in `exc`'s chain that says the disk is full (DuckDB reports it as text, and
    a failed ROLLBACK after a failed COMMIT can hide it behind its own error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (isinstance(current, OSError) and current.errno == errno.ENOSPC) or (
                "No space left on device" in str(current)):
            return current
        current = current.__cause__ or current.__context__
    return None


# How DuckDB reports a damaged file (as opposed to a busy or missing one).
CORRUPTION_MARKERS = ("Corrupt database file", "not a valid DuckDB database file",
                      "Could not read enough bytes")


def is_corruption(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(m in str(exc) for m in CORRUPTION_MARKERS)


class Warehouse:
    """Owns the warehouse file. Writers are serialized by an OS file lock beside the file."""

    def __init__(self, path: Path, settings: DuckDBSettings | None = None,
                 lock_timeout_s: float = 600.0) -> None:
        self.path = Path(path)
        self.settings = settings or DuckDBSettings()
        self.lock_timeout_s = lock_timeout_s

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, held under the writer lock; closed whatever happens."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock():
            con = self._connect(read_only=False)
            try:
                self._configure(con)
                yield con
            except (duckdb.Error, OSError) as exc:
                if is_corruption(exc):
                    raise WarehouseCorruptError(self.path, str(exc)) from exc
                full = disk_full_cause(exc)
                if full is not None and not isinstance(exc, WarehouseDiskFullError):
                    raise WarehouseDiskFullError(self.path, str(full)) from exc
                raise
            finally:
                con.close()

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (blocks writers while open: analysts use the published copy)."""
        con = self._connect(read_only=True)
        try:
            self._configure(con)
            yield con
        except duckdb.Error as exc:
            if is_corruption(exc):
                raise WarehouseCorruptError(self.path, str(exc)) from exc
            raise
        finally:
            con.close()

    def verify(self, deep: bool = False) -> None:
        """Open the file (DuckDB checks its headers, metadata and catalog) and, when `deep`, read
        every block of every table; WarehouseCorruptError if anything fails its checksum."""
        with self.reader() as con:
            tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                 "WHERE database_name = current_database()").fetchall()
            for schema, table in tables if deep else []:
                name = f'"{validate_identifier(schema, "schema")}"."{validate_identifier(table, "table")}"'
                con.execute(f"SELECT count(*), sum(hash(t)) FROM {name} AS t").fetchone()

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            if is_corruption(exc):
                raise WarehouseCorruptError(self.path, str(exc)) from None
            if disk_full_cause(exc) is not None:
                raise WarehouseDiskFullError(self.path, str(exc)) from None
            if "Could not set lock" in str(exc):
                holder = re.search(r"PID \d+", str(exc))
                raise WarehouseBusyError(
                    f"warehouse {self.path} is open in another process"
                    f"{f' ({holder.group(0)})' if holder else ''}: DuckDB lets one process "
                    "write it or several read it, not both. Close that session (analysts read "
                    "analyst.duckdb) and run again.") from None
            raise

    def ensure_schema(self) -> None:
        """Create every schema and table of sql/ddl (idempotent)."""
        with self.writer() as con:
            apply_ddl(con)

    def _configure(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"SET memory_limit = '{_checked_size(self.settings.memory_limit)}'")
        con.execute(f"SET threads = {int(self.settings.threads)}")
        temp = self.settings.temp_directory or str(self.path.parent / ".duckdb_tmp")
        # SET takes no bound parameters; both values are checked before they reach SQL.
        con.execute(f"SET temp_directory = '{_checked_path(temp)}'")

    @contextmanager
    def _lock(self) -> Iterator[None]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseBusyError(
                            f"warehouse {self.path} is being written by another process"
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def apply_ddl(con: duckdb.DuckDBPyConnection) -> None:
    for path in sorted((sql_dir() / "ddl").glob("*.sql")):
        run_sql_file(con, f"ddl/{path.name}")


def _checked_size(value: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip()):
        raise ValueError(f"duckdb memory_limit {value!r} is not a size like '4GB'")
    return value.strip()


def _checked_path(value: str) -> str:
    if "'" in value:
        raise ValueError(f"path {value!r} must not contain a quote")
    return value


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction while an error is being handled. If DuckDB already aborted
    it (a failed COMMIT on a full disk), ROLLBACK itself fails; that must not hide the cause."""
    with suppress(duckdb.Error):
        con.execute("ROLLBACK")
