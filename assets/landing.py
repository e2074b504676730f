"""Landing: what arrived in the landing directory for the day (the channels put it there)."""

from collections import Counter

import dagster as dg

from assets.partitions import daily_partitions, partition_date
from reconcile.pipeline import discover_day
from resources.chartledger import ChartLedgerResource


@dg.asset(
    key=["landing", "landed_files"],
    group_name="landing",
    partitions_def=daily_partitions,
    kinds={"file"},
    owners=["team:integration"],
    description="Files found in the landing directory for the extract date, with whether their "
    "control files have arrived (a file without one is still being written and waits).",
)
def landed_files(context: dg.AssetExecutionContext,
                 chartledger: ChartLedgerResource) -> dg.MaterializeResult:
    day = partition_date(context)
    files = discover_day(chartledger.settings(), day)
    by_feed = Counter(f.feed.name for f in files)
    waiting = [f.relative_path for f in files if not f.complete]
    context.log.info("%s: %d files landed, %d without control file", day, len(files),
                     len(waiting))
    return dg.MaterializeResult(metadata={
        "files": len(files),
        "bytes": sum(f.size_bytes for f in files),
        "awaiting_control_file": len(waiting),
        "files_by_feed": dg.MetadataValue.json(dict(sorted(by_feed.items()))),
    })
