"""Landing: what arrived in the landing directory for the day (the channels put it there)."""

from collections import Counter

import dagster as dg

from assets.channels import FETCH_ASSETS
from assets.partitions import daily_partitions, partition_date
from assets.policies import CHANNEL_RETRY_POLICY
from assets.steps import audited_step
from reconcile.pipeline import discover_day
from resources.chartledger import ChartLedgerResource


@dg.asset(
    key=["landing", "landed_files"],
    group_name="landing",
    partitions_def=daily_partitions,
    deps=FETCH_ASSETS,  # what the channels fetched for the day is landed first
    pool="warehouse",  # it writes its audit row
    retry_policy=CHANNEL_RETRY_POLICY,
    kinds={"file"},
    owners=["team:integration"],
    tags={"layer": "landing"},
    description="Files found in the landing directory for the extract date, with whether their "
    "control files have arrived (a file without one is still being written and waits). Every "
    "file's checksum and size go to ops.run_log. Retried with backoff when the share is not "
    "readable.",
)
def landed_files(context: dg.AssetExecutionContext,
                 chartledger: ChartLedgerResource) -> dg.MaterializeResult:
    day = partition_date(context)
    with audited_step(context, chartledger, "landing/landed_files") as (audit, _con):
        files = discover_day(chartledger.settings(), day)
        waiting = [f.relative_path for f in files if not f.complete]
        audit.inputs = [{"file": f.relative_path, "sha256": f.sha256, "bytes": f.size_bytes,
                         "rows_declared": f.control.rows if f.control else None,
                         "complete": f.complete} for f in files]
        audit.outputs = {"files": len(files), "awaiting_control_file": len(waiting)}
    by_feed = Counter(f.feed.name for f in files)
    context.log.info("%s: %d files landed, %d without control file", day, len(files),
                     len(waiting))
    return dg.MaterializeResult(metadata={
        "files": len(files),
        "bytes": sum(f.size_bytes for f in files),
        "awaiting_control_file": len(waiting),
        "files_by_feed": dg.MetadataValue.json(dict(sorted(by_feed.items()))),
    })
