"""Channel resources: one ConfigurableResource per channel type (SFTP, REST API, FHIR Bulk, SQL).

Connections themselves are described once, in the site's TOML (`[channels.<name>]`, with secrets
from the environment or secret files); a resource runs every channel of its type for a date and
can be switched off per deployment (`enabled`) without editing the site configuration.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import ClassVar

import dagster as dg

from reconcile.channels.fetch import FetchResult, channel_feeds, fetch_day
from reconcile.config import Settings
from reconcile.warehouse import Warehouse


class ChannelResource(dg.ConfigurableResource):
    """Fetches, for one extract date, the feeds of every configured channel of one type."""

    enabled: bool = True
    channel_type: ClassVar[str] = ""

    def configured(self, settings: Settings) -> list[str]:
        """Names of the site's channels of this type that at least one feed uses."""
        return [c.name for c in settings.channels.values()
                if c.type == self.channel_type and channel_feeds(settings, c.name)]

    def fetch(self, settings: Settings, day: dt.date, warehouse: Warehouse) -> FetchResult:
        if not self.enabled:
            return FetchResult()
        return fetch_day(settings, day, warehouse, channel_types=[self.channel_type])


class SftpChannelResource(ChannelResource):
    """SFTP servers (feeds.md: ADT, charges, cabinets, inventory, item master, billing)."""

    channel_type: ClassVar[str] = "sftp"

    def ready_files(self, settings: Settings, warehouse: Warehouse, feed: str) -> list:
        """Complete remote files of `feed` not fetched yet (reconcile.channels.sftp.ReadyFile)."""
        from reconcile.channels.sftp import SftpChannelConfig, list_ready

        config = SftpChannelConfig.from_settings(settings, settings.feeds[feed].channel, os.environ,
                                                 base_dir=settings.config_dir)
        return list_ready(config, [feed], warehouse)


class RestApiChannelResource(ChannelResource):
    """Vendor REST APIs (the cloud ERP's GL journal lines, the workforce system's timecards)."""

    channel_type: ClassVar[str] = "rest_api"


class FhirBulkChannelResource(ChannelResource):
    """The EHR's FHIR Bulk Data export (Procedure, MedicationAdministration)."""

    channel_type: ClassVar[str] = "fhir_bulk"


class SqlChannelResource(ChannelResource):
    """SQL sources through SQLAlchemy (the ERP reporting database's cost centers)."""

    channel_type: ClassVar[str] = "sql"


CHANNEL_RESOURCES: dict[str, type[ChannelResource]] = {
    "sftp_channel": SftpChannelResource,
    "rest_api_channel": RestApiChannelResource,
    "fhir_bulk_channel": FhirBulkChannelResource,
    "sql_channel": SqlChannelResource,
}


def channel_resources() -> dict[str, ChannelResource]:
    return {key: cls() for key, cls in CHANNEL_RESOURCES.items()}
