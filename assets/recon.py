"""Recon: the rule catalogue evaluated as of the day, and the exception work queue."""

import dagster as dg

from assets.canonical import canonical_model
from assets.partitions import daily_partitions, partition_date
from reconcile.audit import StepAudit, started_by
from reconcile.pipeline import reconcile_day
from reconcile.sqlfiles import query_sql_file
from resources.chartledger import ChartLedgerResource


@dg.asset(
    key=["recon", "exceptions"],
    group_name="recon",
    partitions_def=daily_partitions,
    deps=[canonical_model],
    pool="warehouse",
    kinds={"duckdb"},
    owners=["team:revenue-integrity"],
    description="Every rule of the catalogue (sql/rules) evaluated over the rolling window as "
    "of the day; recon.exceptions keeps each defect's id, first/last sighting and status.",
)
def exceptions(context: dg.AssetExecutionContext,
               chartledger: ChartLedgerResource) -> dg.MaterializeResult:
    day = partition_date(context)
    settings = chartledger.settings()
    audit = StepAudit(context.run.run_id, context.partition_key, "recon/exceptions",
                      started_by(context.run.tags))
    with chartledger.open_warehouse().writer() as con:
        found = reconcile_day(con, settings, day)
        open_rows = query_sql_file(con, "recon/open_summary.sql").fetchall()
        audit.outputs = {"recon.findings": sum(found.values()),
                         "recon.exceptions(open)": sum(int(r[1]) for r in open_rows)}
        audit.write(con)
    context.log.info("%s: %s", day, ", ".join(f"{k}={v}" for k, v in found.items()))
    return dg.MaterializeResult(metadata={
        "found_today": dg.MetadataValue.json(found),
        "open_exceptions": sum(int(r[1]) for r in open_rows),
        "open_dollars": float(sum(r[2] for r in open_rows)),
        "open_by_rule": dg.MetadataValue.md(
            "| rule | open | dollars |\n|---|---|---|\n"
            + "\n".join(f"| {r} | {n} | {d:,.2f} |" for r, n, d in open_rows)),
    })
