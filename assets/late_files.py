"""Sensor: a file that lands after its day already ran starts a rerun of that day.

The nightly schedule takes whatever has arrived by 02:00; a file that completes later (its
control file written after the feed's day was materialized) would otherwise wait for someone to
rerun the day. One run per arrived file version; runs of the same day queue behind each other
(`dagster/partition` limit in dagster.yaml) and a rerun is idempotent.
"""

import time

import dagster as dg

from assets.jobs import nightly_job
from reconcile.arrivals import completed_since
from resources.chartledger import ChartLedgerResource


@dg.sensor(
    name="late_file_sensor",
    job=nightly_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reruns a business date when one of its files completes in the landing "
    "directory after that date's nightly run (one run per file version).",
)
def late_file_sensor(context: dg.SensorEvaluationContext, chartledger: ChartLedgerResource):
    if context.cursor is None:  # first tick: watch from now on, history is the nightly's
        context.update_cursor(str(time.time()))
        return dg.SkipReason("watching the landing directory from now on")
    since = float(context.cursor)
    arrivals = completed_since(chartledger.settings().landing_root, since)
    requests = []
    materialized: dict[str, set[str]] = {}
    for arrival in arrivals:
        key = dg.AssetKey(["staging", arrival.feed])
        if arrival.feed not in materialized:
            materialized[arrival.feed] = context.instance.get_materialized_partitions(key)
        day = arrival.extract_date.isoformat()
        if day not in materialized[arrival.feed]:
            continue  # its day has not run yet: the nightly schedule will take it
        requests.append(dg.RunRequest(
            run_key=f"late:{arrival.relative_path}:{arrival.completed_at:.6f}",
            partition_key=day,
            tags={"chartledger/late_file": arrival.relative_path},
        ))
    if arrivals:
        context.update_cursor(str(max(a.completed_at for a in arrivals)))
    if not requests:
        return dg.SkipReason(f"{len(arrivals)} new file(s), none for a day that already ran")
    return requests
