"""Daily partitions on the business (extract) date, in the site's time zone."""

import datetime as dt
import os

import dagster as dg

from assets.site import SITE_TIMEZONE

PARTITIONS_START = os.environ.get("CHARTLEDGER_PARTITIONS_START", "2025-01-01")

# end_offset=1: today's date can be run by hand (a late look at a day in progress); the nightly
# schedule itself asks for the previous date.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1,
                                                timezone=SITE_TIMEZONE)


def partition_date(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)
