"""Jobs and schedules."""

import dagster as dg

NIGHTLY_GROUPS = ("landing", "staging", "canonical", "recon", "publish")

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.groups(*NIGHTLY_GROUPS),
    description="Land, stage, map and reconcile one business date.",
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job, hour_of_day=2, minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

close_job = dg.define_asset_job(
    "close",
    selection=dg.AssetSelection.groups("reports"),
    description="Build the month-end close package of a period (monthly partition).",
)

close_schedule = dg.build_schedule_from_partitioned_job(
    close_job, hour_of_day=6, minute_of_hour=0, day_of_month=3,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
