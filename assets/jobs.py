"""Jobs: the nightly run of one business date, and the month-end close of one period."""

import dagster as dg

NIGHTLY_GROUPS = ("landing", "staging", "canonical", "recon", "publish")

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.groups(*NIGHTLY_GROUPS),
    description="Land, stage, map and reconcile one business date (re-reconciling the rolling "
    "window of service dates that ends on it).",
)

close_job = dg.define_asset_job(
    "close",
    selection=dg.AssetSelection.groups("reports"),
    description="Build the month-end close package of a period (monthly partition).",
)

JOBS = [nightly_job, close_job]
