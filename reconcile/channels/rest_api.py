"""REST API channel (F9 ERP journal lines, F14 workforce timecards): incremental cursor-paged pulls.

A nightly pull asks for every item changed since the stored watermark (`updated_since`) and
follows `next_cursor` until it is null, streaming one item per line into the feed's landing file
for the extract date (`erp/gl/GL_<YYYYMMDD>.ndjson`, `workforce/TIMECARDS_<YYYYMMDD>.ndjson`). The
file and its control file appear only once the last page is in; then the watermark advances to
the largest `updated_at` landed. On any failure nothing lands and the watermark stays, so the next
run asks again from the same point.

Date windows: the landing day is the day pulled (feeds.md), not a business date, so an incremental
pull sends no accounting/work-date window. Combined with a watermark, an upper bound would lose for
good every item dated after it but changed before the pull (the next pull starts after its
updated_at), and a lower bound would lose late changes to old dates. The date parameter is used
only as a lower bound of the very first pull (`initial_date_from`), to skip history a site does
not want; `initial_since` does the same by change time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from reconcile.channels.base import ChannelError, ChannelStats, Deadline, landing_file
from reconcile.channels.http import (
    CREDENTIAL_OPTIONS,
    HTTP_OPTIONS,
    ClientCredentials,
    HttpClient,
    HttpSettings,
    check_url,
    known_options,
    redact_url,
    with_query,
)
from reconcile.channels.state import get_watermark, record_channel_run, set_watermark
from reconcile.config import ConfigError, Settings
from reconcile.feeds import FEEDS
from reconcile.landing import CONTROL_SUFFIX
from reconcile.secrets import check_no_inline_secrets
from reconcile.warehouse import Warehouse

log = logging.getLogger(__name__)

CHANNEL_TYPE = "rest_api"
CHANNEL_OPTIONS = HTTP_OPTIONS | CREDENTIAL_OPTIONS | {
    "base_url", "page_limit", "max_pages", "initial_since"}
FEED_OPTIONS = frozenset({"path", "date_from_param", "initial_date_from", "initial_since",
                          "page_limit"})


@dataclass(frozen=True)
class RestFeed:
    """Where one feed lives on the API and how its first pull is bounded."""

    path: str
    date_from_param: str
    initial_date_from: dt.date | None = None
    initial_since: str | None = None
    page_limit: int | None = None


DEFAULT_FEEDS: dict[str, RestFeed] = {
    "gl_journal_lines": RestFeed("/api/v1/gl/journal-lines", "accounting_date_from"),
    "timecards": RestFeed("/api/v1/timecards", "work_date_from"),
}


@dataclass(frozen=True)
class RestApiConfig:
    """One `[channels.<name>]` section of type `rest_api` and the feeds that name it."""

    name: str
    base_url: str
    credentials: ClientCredentials
    http: HttpSettings = field(default_factory=HttpSettings)
    page_limit: int = 500
    max_pages: int = 100_000
    initial_since: str | None = None
    feeds: Mapping[str, RestFeed] = field(default_factory=dict)

    @classmethod
    def from_options(cls, channel_options: Mapping[str, Any],
                     feed_options: Mapping[str, Mapping[str, Any]] | None = None,
                     env: Mapping[str, str] | None = None, *, name: str = CHANNEL_TYPE,
                     base_dir: Path | None = None) -> RestApiConfig:
        """Build from the channel's options and, per feed name, that feed's own options
        (`path`, `date_from_param`, `initial_date_from`, `initial_since`, `page_limit`)."""
        where = f"[channels.{name}]"
        check_no_inline_secrets(channel_options, where)
        known_options(channel_options, CHANNEL_OPTIONS, where)
        http = HttpSettings.from_options(channel_options, where, base_dir)
        base = channel_options.get("base_url")
        if not base:
            raise ConfigError(f"{where} needs base_url")
        base_url = check_url(str(base).rstrip("/"), f"{where} base_url", http.allow_http)
        credentials = ClientCredentials.from_options(
            channel_options, os.environ if env is None else env, where,
            f"{base_url}/oauth/token", http.allow_http, base_dir)
        feeds = {feed: _feed(feed, opts or {}) for feed, opts in (feed_options or {}).items()}
        return cls(
            name=name, base_url=base_url, credentials=credentials, http=http,
            page_limit=_positive_int(channel_options, "page_limit", 500, where),
            max_pages=_positive_int(channel_options, "max_pages", 100_000, where),
            initial_since=_instant(channel_options.get("initial_since"), f"{where} initial_since"),
            feeds=feeds,
        )

    @classmethod
    def from_settings(cls, settings: Settings, channel: str, env: Mapping[str, str] | None = None,
                      base_dir: Path | None = None) -> RestApiConfig:
        """The config of `[channels.<channel>]` with the options of every feed that names it."""
        section = settings.channels.get(channel)
        if section is None or section.type != CHANNEL_TYPE:
            raise ConfigError(f"[channels.{channel}] is not a rest_api channel")
        feeds = {feed: spec.options for feed, spec in settings.feeds.items() if spec.channel == channel}
        return cls.from_options(section.options, feeds, env, name=channel, base_dir=base_dir)

    def feed(self, feed: str) -> RestFeed:
        if feed in self.feeds:
            return self.feeds[feed]
        if feed in DEFAULT_FEEDS:
            return DEFAULT_FEEDS[feed]
        raise ConfigError(f"[channels.{self.name}] feed {feed!r} is not served by a REST API "
                          f"({', '.join(DEFAULT_FEEDS)})")


def _feed(feed: str, options: Mapping[str, Any]) -> RestFeed:
    where = f"[feeds.{feed}]"
    check_no_inline_secrets(options, where)
    if feed not in DEFAULT_FEEDS:
        raise ConfigError(f"{where} cannot come from a REST API channel (only "
                          f"{', '.join(DEFAULT_FEEDS)})")
    known_options(options, FEED_OPTIONS, where)
    default = DEFAULT_FEEDS[feed]
    path = str(options.get("path", default.path))
    if not path.startswith("/") or "//" in path or ".." in path or "?" in path:
        raise ConfigError(f"{where} path {path!r} must be an absolute path on the API (/api/...)")
    initial = options.get("initial_date_from")
    try:
        initial_date = dt.date.fromisoformat(str(initial)) if initial else None
    except ValueError as exc:
        raise ConfigError(f"{where} initial_date_from {initial!r} is not YYYY-MM-DD") from exc
    return RestFeed(
        path=path,
        date_from_param=str(options.get("date_from_param", default.date_from_param)),
        initial_date_from=initial_date,
        initial_since=_instant(options.get("initial_since"), f"{where} initial_since"),
        page_limit=_positive_int(options, "page_limit", None, where),
    )


def _positive_int(options: Mapping[str, Any], key: str, default: int | None, where: str) -> Any:
    raw = options.get(key, default)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ConfigError(f"{where} {key} must be a whole number of at least 1")
    return raw


def _instant(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    text = value.isoformat() if isinstance(value, dt.datetime | dt.date) else str(value)
    if _timestamp(text) is None:
        raise ConfigError(f"{where} {text!r} is not an ISO 8601 timestamp")
    return text


def _timestamp(text: Any) -> dt.datetime | None:
    """An updated_at value as a comparable datetime (aware ones in UTC, naive), None if unusable."""
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


# -- JSON: items are written back as compact JSON with their numbers exactly as received ---------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_exact(text: str | bytes) -> Any:
    """Parse JSON keeping every number's digits (Decimal), refusing NaN and Infinity."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def dumps_compact(value: Any) -> str:
    """Compact JSON (no spaces, UTF-8 kept, key order kept) with Decimals written as parsed."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + dumps_compact(v)
                              for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps_compact(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


# -- the pull ----------------------------------------------------------------------------------
def fetch_rest_api(config: RestApiConfig, landing_root: Path, feed: str, extract_date: dt.date,
                   warehouse: Warehouse) -> ChannelStats:
    """Pull everything changed since the feed's watermark into its landing file for extract_date.

    Returns the run's stats (also recorded in ops.channel_runs; the warehouse schema must exist).
    Raises ChannelError when the pull fails; then nothing is landed and the watermark stays. A
    day whose file is already landed is not pulled again (a second pull would replace it with
    only what changed since): its stats say `nothing_new`.
    """
    spec = config.feed(feed)
    stats = ChannelStats(CHANNEL_TYPE, feed, extract_date)
    relative = FEEDS[feed].path_for(extract_date)
    try:
        if _already_landed(landing_root, relative):
            log.info("%s %s: %s is already landed; not pulled again", config.name, feed, relative)
            return stats.finish("nothing_new")
        watermark = get_watermark(warehouse, config.name, feed)
        newest = _pull(config, spec, landing_root, relative, feed, watermark, stats)
        if newest is not None and (watermark is None or _later(newest, watermark)):
            set_watermark(warehouse, config.name, feed, newest)
        return stats.finish("success" if stats.rows_fetched else "nothing_new")
    except BaseException as exc:
        stats.finish("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        record_channel_run(warehouse, stats)


def _already_landed(landing_root: Path, relative: str) -> bool:
    path = landing_root / relative
    return path.is_file() and path.with_name(path.name + CONTROL_SUFFIX).is_file()


def _later(candidate: str, current: str) -> bool:
    new, old = _timestamp(candidate), _timestamp(current)
    return new is not None and (old is None or new > old)


def _pull(config: RestApiConfig, spec: RestFeed, landing_root: Path, relative: str, feed: str,
          watermark: str | None, stats: ChannelStats) -> str | None:
    """Page through the API into the landing file; returns the largest updated_at landed."""
    url = config.base_url + spec.path
    params: dict[str, Any] = {"limit": spec.page_limit or config.page_limit}
    since = watermark or spec.initial_since or config.initial_since
    if since:
        params["updated_since"] = since
    elif spec.initial_date_from:
        params[spec.date_from_param] = spec.initial_date_from.isoformat()
    what = f"{config.name} {feed}"
    newest: tuple[dt.datetime, str] | None = None
    undated = 0
    deadline = Deadline(config.http.max_total_s)
    with HttpClient(config.http, config.credentials, deadline, config.name) as client:
        try:
            with landing_file(landing_root, relative) as out:
                cursor: str | None = None
                seen: set[str] = set()
                page = 0
                while True:
                    page += 1
                    if page > config.max_pages:
                        raise ChannelError(f"{what}: more than max_pages = {config.max_pages} pages; "
                                           "stopped (a page chain that does not end?)")
                    query = dict(params, cursor=cursor) if cursor else params
                    response = client.request("GET", url, params=query, what=f"{what} page {page}",
                                              headers={"Accept": "application/json"})
                    items, cursor = _page(response.content, what, page, with_query(url, query))
                    for item in items:
                        out.write_line(dumps_compact(item))
                        stamp = _timestamp(item.get("updated_at"))
                        if stamp is None:
                            undated += 1
                        elif newest is None or stamp > newest[0]:
                            newest = (stamp, item["updated_at"])
                    if cursor is None:
                        break
                    if cursor in seen:
                        raise ChannelError(f"{what}: page {page} repeats an earlier next_cursor; "
                                           "stopped (the page chain would not end)")
                    seen.add(cursor)
                    deadline.check(f"{what}: paging")
                size, rows = out.writer.size, out.rows
        finally:
            stats.retries += client.retries
    stats.landed(relative, size, rows)
    if undated:
        log.warning("%s: %d item(s) without a usable updated_at (they do not move the watermark)",
                    what, undated)
    log.info("%s: landed %s (%d items, %d pages)", what, relative, rows, page)
    return newest[1] if newest else None


def _page(body: bytes, what: str, page: int, url: str) -> tuple[list[dict[str, Any]], str | None]:
    """Items and next cursor of one page; ChannelError naming feed, page and URL if malformed."""
    where = f"{what}: page {page} of GET {redact_url(url)}"
    try:
        data = loads_exact(body)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = f"{exc.msg} at line {exc.lineno} column {exc.colno}" \
            if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ChannelError(f"{where} is not valid JSON ({reason}); nothing landed") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ChannelError(f"{where} is not an object with an 'items' list; nothing landed")
    cursor = data.get("next_cursor")
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise ChannelError(f"{where} has a next_cursor that is neither a string nor null; "
                           "nothing landed")
    for index, item in enumerate(data["items"], 1):
        if not isinstance(item, dict):
            raise ChannelError(f"{where}: item {index} is not a JSON object; nothing landed")
    return data["items"], cursor
