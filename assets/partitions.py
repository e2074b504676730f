"""Daily partitions on the business (extract) date."""

import datetime as dt
import os

import dagster as dg

PARTITIONS_START = os.environ.get("CHARTLEDGER_PARTITIONS_START", "2025-01-01")

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)


def partition_date(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)
