"""The ChartLedger code location: every asset, check, job, schedule, sensor and resource.

Each kind is a list so that other modules (channels, their sensors and resources) add to it.
"""

import dagster as dg

from assets.canonical import canonical_model
from assets.channels import FETCH_ASSETS, SFTP_SENSORS
from assets.close import close_package
from assets.feeds import staging_assets
from assets.jobs import JOBS
from assets.landing import landed_files
from assets.publish import analyst_database
from assets.recon import exceptions
from assets.schedules import SCHEDULES
from assets.sensors import SENSORS
from resources.channels import channel_resources
from resources.chartledger import resource_from_environment

ASSETS = [*FETCH_ASSETS, landed_files, *staging_assets, canonical_model, exceptions, analyst_database,
          close_package]
RESOURCES = {"chartledger": resource_from_environment(), **channel_resources()}

defs = dg.Definitions(
    assets=ASSETS,
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=[*SENSORS, *SFTP_SENSORS],
    resources=RESOURCES,
)
