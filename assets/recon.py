"""Recon: the rule catalogue evaluated as of the day, and the exception work queue."""

from decimal import Decimal

import dagster as dg

from assets.canonical import canonical_model
from assets.partitions import daily_partitions, partition_date
from assets.schemas import table_metadata
from assets.steps import audited_step
from reconcile.pipeline import held_facilities, reconcile_day
from reconcile.rules import rule_parameters
from reconcile.sqlfiles import query_sql_file
from resources.chartledger import ChartLedgerResource


def _pct(matched: int, keys: int) -> float:
    return round(100 * matched / keys, 2) if keys else 100.0


@dg.asset(
    key=["recon", "exceptions"],
    group_name="recon",
    partitions_def=daily_partitions,
    deps=[canonical_model],
    pool="warehouse",
    kinds={"duckdb"},
    owners=["team:revenue-integrity"],
    tags={"layer": "recon"},
    metadata=table_metadata("recon.exceptions"),
    description="Every rule of the catalogue (sql/rules) re-evaluated over the rolling window "
    "(thresholds.rolling_window_days of service dates ending on the day, with only the data "
    "delivered by then); recon.exceptions keeps each defect's id, first/last sighting and "
    "status. Facilities held back by a rejected feed are left out of the night.",
)
def exceptions(context: dg.AssetExecutionContext,
               chartledger: ChartLedgerResource) -> dg.MaterializeResult:
    day = partition_date(context)
    settings = chartledger.settings()
    window = rule_parameters(day, settings.thresholds)
    with audited_step(context, chartledger, "recon/exceptions") as (audit, con):
        held = tuple(held_facilities(con, settings, day))
        found = reconcile_day(con, settings, day, held)
        open_rows = query_sql_file(con, "recon/open_summary.sql").fetchall()
        rates = query_sql_file(con, "ops/match_rates.sql", {"day": day}).fetchall()
        audit.outputs = {"recon.findings": sum(found.values()),
                         "recon.exceptions(open)": sum(int(r[1]) for r in open_rows)}
        if held:
            audit.outputs["held_facilities"] = ",".join(held)
    open_count = sum(int(r[1]) for r in open_rows)
    dollars = sum((Decimal(r[2]) for r in open_rows), Decimal("0")).quantize(Decimal("0.01"))
    context.log.info("%s: %s", day, ", ".join(f"{k}={v}" for k, v in found.items()))
    return dg.MaterializeResult(metadata={
        "window_start": window["window_start"].isoformat(),
        "window_end": day.isoformat(),
        "held_facilities": ", ".join(held) or "none",
        "findings_today": sum(found.values()),
        "found_today": dg.MetadataValue.json(found),
        **{f"matched_pct_{side}": _pct(int(matched), int(keys)) for side, keys, matched in rates},
        "open_exceptions": open_count,
        "open_dollars": dg.MetadataValue.text(f"{dollars:,}"),
        "open_by_rule": dg.MetadataValue.md(
            "| rule | open | dollars |\n|---|---|---|\n"
            + "\n".join(f"| {r} | {n} | {d:,.2f} |" for r, n, d in open_rows)),
    })
