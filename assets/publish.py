"""Publish: the daily digest and the read-only analyst database, after each night's run."""

import dagster as dg

from assets.partitions import daily_partitions, partition_date
from assets.recon import exceptions
from assets.steps import audited_step
from reconcile.digest import build_digest, write_digest
from reconcile.publish import publish
from resources.chartledger import ChartLedgerResource


@dg.asset(
    key=["publish", "analyst_database"],
    group_name="publish",
    partitions_def=daily_partitions,
    deps=[exceptions],
    pool="warehouse",
    kinds={"duckdb"},
    owners=["team:integration"],
    tags={"layer": "publish"},
    description="The day's digest per owner (report.daily_digest and outputs/digest/*.md), then "
    "the analyst database: recon, report and ops copied into a new file, documented with "
    "COMMENT ON and DATA_DICTIONARY.md, and renamed over analyst.duckdb beside the warehouse.",
)
def analyst_database(context: dg.AssetExecutionContext,
                     chartledger: ChartLedgerResource) -> dg.MaterializeResult:
    day = partition_date(context)
    settings = chartledger.settings()
    with audited_step(context, chartledger, "publish/analyst_database") as (audit, con):
        rows = build_digest(con, day)
        target = publish(con, settings.analyst_path)
        audit.outputs = {"report.daily_digest": len(rows), "analyst.duckdb": 1}
    digest = write_digest(rows, day, settings.outputs / "digest")
    return dg.MaterializeResult(metadata={
        "analyst_database": dg.MetadataValue.path(str(target)),
        "digest": dg.MetadataValue.path(str(digest)),
        "new_exceptions": sum(r[1] for r in rows),
        "open_exceptions": sum(r[3] for r in rows),
        "resolved_exceptions": sum(r[5] for r in rows),
    })
