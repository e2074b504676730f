"""The ChartLedger code location: every asset, check, job, schedule, sensor and resource.

Each kind is a list so that other modules (channels, their sensors and resources) add to it.
"""

import dagster as dg

from assets.canonical import canonical_model
from assets.close import close_package
from assets.feeds import staging_assets
from assets.jobs import JOBS
from assets.landing import landed_files
from assets.publish import analyst_database
from assets.recon import exceptions
from assets.schedules import SCHEDULES
from assets.sensors import SENSORS
from resources.chartledger import resource_from_environment

ASSETS = [landed_files, *staging_assets, canonical_model, exceptions, analyst_database,
          close_package]
RESOURCES = {"chartledger": resource_from_environment()}

defs = dg.Definitions(
    assets=ASSETS,
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=RESOURCES,
)
