"""The ChartLedger code location: every asset, check, job and schedule, and the resource."""

import dagster as dg

from assets.canonical import canonical_model
from assets.feeds import staging_assets
from assets.jobs import nightly_job, nightly_schedule
from assets.landing import landed_files
from assets.recon import exceptions
from resources.chartledger import resource_from_environment

defs = dg.Definitions(
    assets=[landed_files, *staging_assets, canonical_model, exceptions],
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    resources={"chartledger": resource_from_environment()},
)
