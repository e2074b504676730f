"""SQL channel: read a feed's table from a source database (any SQLAlchemy URL) into its CSV file form.

F10 cost_centers comes this way from the ERP reporting database. Rows are streamed in chunks and
written as the feed's reference CSV (feeds.md) with its control file, atomically: the landing
directory holds the whole snapshot or nothing of it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from reconcile.channels.base import ChannelError, ChannelStats, landing_file
from reconcile.channels.state import record_channel_run
from reconcile.config import ConfigError, Settings, validate_identifier
from reconcile.feeds import FEEDS
from reconcile.readers import CSV_COLUMNS
from reconcile.warehouse import Warehouse

log = logging.getLogger(__name__)

CHANNEL_TYPE = "sql"
CSV_EOL = "\r\n"  # RFC 4180, as the reference files are written
CHANNEL_OPTIONS = {"url", "url_env", "password_env"}
FEED_OPTIONS = {"query", "table", "chunk_size"}
# how a boolean column is written, per feed (the reference layouts differ: true/false, Y/N)
BOOLEAN_TEXT: dict[str, dict[str, tuple[str, str]]] = {
    "cost_centers": {"active": ("true", "false")},
    "item_master": {"chargeable": ("Y", "N"), "implant": ("Y", "N")},
    "case_supplies": {"implant_flag": ("Y", "N")},
}


@dataclass(frozen=True)
class SqlChannelConfig:
    """Where a feed's rows come from: a database URL (secrets from the environment) and a query.

    Without `query` the feed's reference columns are selected from `table` (default: the feed's
    name, e.g. `cost_centers`), which may be qualified by a schema (`erp.cost_centers`).
    """

    url: URL = field(repr=False)
    name: str = CHANNEL_TYPE
    query: str | None = None
    table: str | None = None
    chunk_size: int = 5000

    @classmethod
    def from_options(cls, channel_options: Mapping[str, Any], feed_options: Mapping[str, Any],
                     env: Mapping[str, str], *, name: str = CHANNEL_TYPE) -> SqlChannelConfig:
        """Build from `[channels.<name>]` (url or url_env, password_env) and `[feeds.<feed>]`
        options (query or table, chunk_size)."""
        channel = {k: v for k, v in channel_options.items() if not (k == "type" and v == CHANNEL_TYPE)}
        unknown = sorted(set(channel) - CHANNEL_OPTIONS)
        if unknown:
            raise ConfigError(f"[channels.{name}] unknown SQL option(s): {', '.join(unknown)}")
        unknown = sorted(set(feed_options) - FEED_OPTIONS)
        if unknown:
            raise ConfigError(f"[channels.{name}] unknown per-feed SQL option(s): {', '.join(unknown)}")
        url = _url(channel, env, name)
        query = feed_options.get("query")
        table = feed_options.get("table")
        if query is not None and table is not None:
            raise ConfigError(f"[channels.{name}] give a feed either 'query' or 'table', not both")
        if table is not None:
            for part in str(table).split("."):
                validate_identifier(part, "table")
        try:
            chunk_size = int(feed_options.get("chunk_size", 5000))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[channels.{name}] chunk_size must be a whole number") from exc
        if chunk_size < 1:
            raise ConfigError(f"[channels.{name}] chunk_size must be at least 1")
        return cls(url=url, name=name, query=str(query) if query is not None else None,
                   table=str(table) if table is not None else None, chunk_size=chunk_size)

    @classmethod
    def from_settings(cls, settings: Settings, feed: str, env: Mapping[str, str]) -> SqlChannelConfig:
        """The config of the SQL channel that `[feeds.<feed>]` names, with that feed's options."""
        spec = settings.feeds.get(feed)
        section = settings.channels.get(spec.channel) if spec else None
        if spec is None or section is None or section.type != CHANNEL_TYPE:
            raise ConfigError(f"[feeds.{feed}] does not name an SQL channel")
        return cls.from_options(section.options, spec.options, env, name=section.name)

    def query_for(self, feed: str) -> str:
        """The query to run: the configured one, or the feed's reference columns from its table."""
        if self.query:
            return self.query
        table = self.table or feed
        return f"SELECT {', '.join(columns_of(feed))} FROM {table}"

    @property
    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)


def columns_of(feed: str) -> list[str]:
    """The reference CSV columns of a feed; only CSV feeds can come from a table."""
    if feed not in CSV_COLUMNS:
        raise ConfigError(f"feed {feed!r} has no CSV file form: it cannot come from the SQL channel")
    return CSV_COLUMNS[feed]


def fetch_sql(config: SqlChannelConfig, landing_root: Path, feed: str, extract_date: dt.date,
              warehouse: Warehouse) -> ChannelStats:
    """Read the feed's rows and land them as `<feed file form>` for extract_date, with control file.

    Records the run in ops.channel_runs (the warehouse's schema must exist); a failure lands
    nothing, is recorded, and raises ChannelError naming the channel, feed and database.
    """
    columns = columns_of(feed)
    relative = FEEDS[feed].path_for(extract_date)
    stats = ChannelStats(CHANNEL_TYPE, feed, extract_date)
    try:
        size, rows = _land(config, landing_root, feed, relative, columns)
    except (SQLAlchemyError, ChannelError, OSError) as exc:
        reason = _reason(exc)
        stats.finish("failed", f"feed {feed}: {reason}")
        record_channel_run(warehouse, stats)
        raise ChannelError(f"sql {config.name}: feed {feed} from {config.safe_url}: {reason}; "
                           "nothing landed") from exc
    stats.landed(relative, size, rows)
    stats.finish("success")
    record_channel_run(warehouse, stats)
    log.info("sql %s: landed %s (%d rows, %d bytes)", config.name, relative, rows, size)
    return stats


def _land(config: SqlChannelConfig, landing_root: Path, feed: str, relative: str,
          columns: Sequence[str]) -> tuple[int, int]:
    engine = sa.create_engine(config.url)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=config.chunk_size).execute(
                sa.text(config.query_for(feed)))
            try:
                return _write(result, landing_root, feed, relative, columns)
            finally:
                result.close()  # a server-side cursor is closed even when writing failed
    finally:
        engine.dispose()


def _write(result: sa.CursorResult, landing_root: Path, feed: str, relative: str,
           columns: Sequence[str]) -> tuple[int, int]:
    """Stream the result into the feed's CSV file form (header, CRLF records) and its control file."""
    positions = _positions(list(result.keys()), columns, feed)
    booleans = BOOLEAN_TEXT.get(feed, {})
    formats = [booleans.get(column) for column in columns]
    with landing_file(landing_root, relative) as target:
        target.writer.write((",".join(columns) + CSV_EOL).encode("utf-8"))
        for chunk in result.partitions():
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator=CSV_EOL)
            for row in chunk:
                writer.writerow([text_of(row[i], fmt) for i, fmt in zip(positions, formats, strict=True)])
            target.writer.write(buffer.getvalue().encode("utf-8"))
            target.rows += len(chunk)
    return target.writer.size, target.rows


def _positions(keys: list[str], columns: Sequence[str], feed: str) -> list[int]:
    """Where each reference column is in the result (names compared case-insensitively)."""
    lowered = [k.lower() for k in keys]
    missing = [c for c in columns if c not in lowered]
    if missing:
        raise ChannelError(f"the query's result lacks column(s) {', '.join(missing)} of feed {feed}")
    extra = [k for k in keys if k.lower() not in columns]
    if extra:
        log.info("feed %s: ignoring column(s) %s of the query's result", feed, ", ".join(extra))
    return [lowered.index(c) for c in columns]


def text_of(value: object, boolean: tuple[str, str] | None = None) -> str:
    """One value as the reference CSV writes it: empty for null, dates ISO, booleans per feed."""
    if value is None:
        return ""
    if boolean is not None and (isinstance(value, bool) or value in (0, 1)):
        return boolean[0] if value else boolean[1]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()  # a DATE column read back as a timestamp (Oracle, ...)
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # never via binary float formatting
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise ChannelError("a binary value cannot be written to a CSV feed")
    return str(value)


def _url(options: Mapping[str, Any], env: Mapping[str, str], name: str) -> URL:
    """The database URL: from the environment variable named by url_env, or a URL without password
    (plus password_env)."""
    if ("url" in options) == ("url_env" in options):
        raise ConfigError(f"[channels.{name}] needs exactly one of 'url' (without password) or "
                          "'url_env' (the environment variable that holds the URL)")
    if "url_env" in options:
        variable = str(options["url_env"])
        if variable not in env:
            raise ConfigError(f"[channels.{name}] url_env names ${variable}, which is not set")
        text = env[variable]
    else:
        text = str(options["url"])
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(f"[channels.{name}] the database URL is not an SQLAlchemy URL") from exc
    if "url" in options and url.password is not None:
        raise ConfigError(f"[channels.{name}] 'url' must not hold a password: put the URL in an "
                          "environment variable (url_env) or the password in password_env")
    if "password_env" in options:
        variable = str(options["password_env"])
        if variable not in env:
            raise ConfigError(f"[channels.{name}] password_env names ${variable}, which is not set")
        url = url.set(password=env[variable])
    return url


def _reason(exc: BaseException) -> str:
    """A one-line reason without the statement's parameters (they may hold data)."""
    if isinstance(exc, SQLAlchemyError):
        original = getattr(exc, "orig", None)
        text = str(original) if original is not None else str(exc)
        return f"{type(original or exc).__name__}: {text.strip().splitlines()[0] if text.strip() else ''}"
    return str(exc)
