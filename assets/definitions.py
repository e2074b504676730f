"""The ChartLedger code location: every asset, check, job and schedule, and the resource."""

import dagster as dg

from assets.canonical import canonical_model
from assets.close import close_package
from assets.feeds import staging_assets
from assets.jobs import close_job, close_schedule, nightly_job, nightly_schedule
from assets.landing import landed_files
from assets.publish import analyst_database
from assets.recon import exceptions
from assets.sensors import alert_on_run_failure
from resources.chartledger import resource_from_environment

defs = dg.Definitions(
    assets=[landed_files, *staging_assets, canonical_model, exceptions, analyst_database,
            close_package],
    jobs=[nightly_job, close_job],
    schedules=[nightly_schedule, close_schedule],
    sensors=[alert_on_run_failure],
    resources={"chartledger": resource_from_environment()},
)
