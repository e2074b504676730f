"""Canonical: the canonical model over staging (visits, expected and posted charges, master data)."""

import dagster as dg

from assets.feeds import staging_assets
from assets.partitions import daily_partitions
from reconcile.audit import StepAudit, started_by
from reconcile.pipeline import refresh_canonical
from reconcile.sqlfiles import query_sql_file
from resources.chartledger import ChartLedgerResource


@dg.asset(
    key=["canonical", "canonical_model"],
    group_name="canonical",
    partitions_def=daily_partitions,
    deps=[a.key for a in staging_assets],
    pool="warehouse",
    kinds={"duckdb"},
    owners=["team:integration"],
    description="Canonical views (sql/canonical): visit events, charge lines, documented "
    "procedures, administrations and case supplies, and master data with history.",
)
def canonical_model(context: dg.AssetExecutionContext,
                    chartledger: ChartLedgerResource) -> dg.MaterializeResult:
    audit = StepAudit(context.run.run_id, context.partition_key, "canonical/canonical_model",
                      started_by(context.run.tags))
    with chartledger.open_warehouse().writer() as con:
        refresh_canonical(con)
        counts = dict(query_sql_file(con, "ops/canonical_counts.sql").fetchall())
        audit.outputs = {f"canonical.{k}": int(v) for k, v in counts.items()}
        audit.write(con)
    return dg.MaterializeResult(metadata={f"rows_{k}": int(v) for k, v in counts.items()})
