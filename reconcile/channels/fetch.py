"""Fetch a day's feeds over every configured channel into the landing directory.

One entry point for the CLI (`chartledger fetch`, `chartledger run --fetch`) and for Dagster's
fetch assets: it reads `[channels.*]` and the feeds that name them, builds each channel's
configuration (secrets from the environment or secret files only) and runs it. A channel that
fails does not stop the others; the failures are raised together at the end.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconcile.channels.base import ChannelError, ChannelStats
from reconcile.config import ChannelSettings, Settings
from reconcile.feeds import FEEDS
from reconcile.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass
class FetchResult:
    """What a fetch of one extract date did, per channel run and feed."""

    stats: list[ChannelStats] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def raise_for_failures(self) -> None:
        if self.failures:
            raise ChannelError("; ".join(self.failures))


def channel_feeds(settings: Settings, channel: str, only: Sequence[str] | None = None) -> list[str]:
    """The feeds whose `[feeds.<name>]` names `channel` (feeds.md order), limited to `only`."""
    return [name for name in FEEDS
            if name in settings.feeds and settings.feeds[name].channel == channel
            and (only is None or name in only)]


def fetch_day(settings: Settings, extract_date: dt.date, warehouse: Warehouse,
              only_feeds: Sequence[str] | None = None, channel_types: Sequence[str] | None = None,
              env: Mapping[str, str] | None = None) -> FetchResult:
    """Run every configured channel (or those of `channel_types`) for `extract_date`."""
    env = os.environ if env is None else env
    warehouse.ensure_schema()
    result = FetchResult()
    for channel in settings.channels.values():
        if channel_types is not None and channel.type not in channel_types:
            continue
        feeds = channel_feeds(settings, channel.name, only_feeds)
        if not feeds:
            continue
        try:
            stats = _run_channel(settings, channel, feeds, extract_date, warehouse, env)
        except Exception as exc:  # one channel's failure must not stop the others: reported below
            log.error("channel %s (%s) failed for %s: %s", channel.name, channel.type,
                      extract_date, exc)
            result.failures.append(f"{channel.name}: {exc}")
            continue
        result.stats.extend(stats)
        failed = [s for s in stats if s.outcome == "failed"]
        result.failures.extend(f"{channel.name}/{s.feed}: {s.errors[-1] if s.errors else 'failed'}"
                               for s in failed)
        for s in stats:
            log.info("channel %s %s %s: %s, %d files, %d rows, %d retries", channel.name, s.feed,
                     extract_date, s.outcome, s.files_fetched, s.rows_fetched, s.retries)
    return result


def _run_channel(settings: Settings, channel: ChannelSettings, feeds: list[str],
                 extract_date: dt.date, warehouse: Warehouse,
                 env: Mapping[str, str]) -> list[ChannelStats]:
    base = settings.config_dir
    if channel.type == "sftp":
        from reconcile.channels.sftp import SftpChannelConfig, fetch_sftp

        config = SftpChannelConfig.from_settings(settings, channel.name, env, base_dir=base)
        return fetch_sftp(config, settings.landing_root, feeds, warehouse, extract_date,
                          strict=False)
    if channel.type == "sql":
        from reconcile.channels.sql_source import SqlChannelConfig, fetch_sql

        return [fetch_sql(SqlChannelConfig.from_settings(settings, f, env), settings.landing_root,
                          f, extract_date, warehouse) for f in feeds]
    if channel.type == "rest_api":
        from reconcile.channels.rest_api import RestApiConfig, fetch_rest_api

        config = RestApiConfig.from_settings(settings, channel.name, env, base_dir=base)
        return [fetch_rest_api(config, settings.landing_root, f, extract_date, warehouse)
                for f in feeds]
    if channel.type == "fhir_bulk":
        from reconcile.channels.fhir_bulk import FhirBulkConfig, fetch_fhir_bulk

        config = FhirBulkConfig.from_settings(settings, channel.name, env, base_dir=base)
        return fetch_fhir_bulk(config, settings.landing_root, extract_date, warehouse)
    raise ChannelError(f"channel {channel.name}: unknown type {channel.type!r}")
