"""Canonical: the canonical model over staging (visits, expected and posted charges, master data)."""

import dagster as dg

from assets.feeds import staging_assets
from assets.partitions import daily_partitions
from assets.schemas import table_metadata
from assets.steps import audited_step
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
    tags={"layer": "canonical"},
    metadata=table_metadata("canonical.charge_lines"),
    description="Canonical views (sql/canonical): visit events, charge lines, documented "
    "procedures, administrations and case supplies, and master data with history. The column "
    "schema shown is canonical.charge_lines, the posted side of charge capture.",
)
def canonical_model(context: dg.AssetExecutionContext,
                    chartledger: ChartLedgerResource) -> dg.MaterializeResult:
    with audited_step(context, chartledger, "canonical/canonical_model") as (audit, con):
        refresh_canonical(con)
        counts = dict(query_sql_file(con, "ops/canonical_counts.sql").fetchall())
        audit.outputs = {f"canonical.{k}": int(v) for k, v in counts.items()}
    return dg.MaterializeResult(metadata={f"rows_{k}": int(v) for k, v in counts.items()})
