"""Staging: one asset per feed, with a blocking check on the share of rejected rows."""

import dagster as dg
import duckdb

from assets.landing import landed_files
from assets.partitions import daily_partitions, partition_date
from reconcile.audit import StepAudit, started_by
from reconcile.feeds import FEEDS
from reconcile.pipeline import FeedDay, load_feed_day
from reconcile.readers import SUPPORTED_FEEDS
from reconcile.sqlfiles import query_sql_file
from resources.chartledger import ChartLedgerResource

REJECTED_SHARE_CHECK = "rejected_share_within_threshold"
ARRIVED_CHECK = "arrived_for_every_facility"


SAMPLE_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("file", "string"), dg.TableColumn("row", "int"),
    dg.TableColumn("check", "string"), dg.TableColumn("column", "string"),
    dg.TableColumn("reason", "string"),
])


def _failure_sample(con: duckdb.DuckDBPyConnection, result: FeedDay) -> dg.TableMetadataValue:
    """Up to 10 rejections of the day as table metadata (values left out: they may hold PHI)."""
    files = [o.relative_path for o in result.outcomes]
    rows = []
    if files:
        rows = query_sql_file(con, "ops/rejection_sample.sql", {"files": files}).fetchall()
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"file": f, "row": int(r), "check": c, "column": col or "",
                                 "reason": reason}) for f, r, c, col, reason in rows],
        schema=SAMPLE_SCHEMA,
    )


def build_staging_asset(feed_name: str) -> dg.AssetsDefinition:
    feed = FEEDS[feed_name]
    key = dg.AssetKey(["staging", feed_name])

    @dg.asset(
        key=key,
        group_name="staging",
        partitions_def=daily_partitions,
        deps=[landed_files],
        pool="warehouse",
        kinds={"duckdb", feed.file_format},
        tags={"source_system": feed.source_system.split(" ")[0].lower()},
        owners=["team:integration"],
        description=f"{feed.feed_id} {feed_name} from {feed.source_system}: the day's files "
        f"({feed.pattern_text}) parsed, validated with pandera and loaded into "
        f"staging.{feed.staging_table}; rejected rows go to staging.rejected_rows.",
        check_specs=[dg.AssetCheckSpec(
            REJECTED_SHARE_CHECK, asset=key, blocking=True,
            description="Rejected rows stay below the configured share "
            "(thresholds.rejected_share_threshold, default 5%); otherwise the day's "
            "reconciliation stops for a person to look.",
        ), dg.AssetCheckSpec(
            ARRIVED_CHECK, asset=key, blocking=False,
            description="Every expected file of the day arrived complete (per facility for "
            "per-facility feeds); a missing or still-incomplete one fails this warning check "
            "and shows in ops.feed_status.",
        )],
    )
    def _staging(context: dg.AssetExecutionContext, chartledger: ChartLedgerResource):
        day = partition_date(context)
        settings = chartledger.settings()
        audit = StepAudit(context.run.run_id, context.partition_key, f"staging/{feed_name}",
                          started_by(context.run.tags))
        with chartledger.open_warehouse().writer() as con:
            result = load_feed_day(con, settings, feed_name, day, context.run.run_id)
            audit.inputs = [{"file": o.relative_path, "outcome": o.outcome, "rows": o.rows_loaded,
                             "rejected": o.rows_rejected, "sha256": o.sha256}
                            for o in result.outcomes]
            audit.outputs = {f"staging.{feed.staging_table}": result.rows_loaded,
                             "staging.rejected_rows": result.rows_rejected}
            audit.write(con)
            failure_sample = _failure_sample(con, result)  # same connection: no second open
        threshold = float(settings.thresholds.rejected_share_threshold)
        share = result.rejected_share
        context.log.info("%s %s: %d rows loaded, %d rejected, %d files, missing: %s", feed_name,
                         day, result.rows_loaded, result.rows_rejected, len(result.outcomes),
                         ",".join(result.missing) or "none")
        yield dg.MaterializeResult(metadata={
            "rows_loaded": result.rows_loaded,
            "rows_rejected": result.rows_rejected,
            "files_loaded": result.count("loaded") + result.count("replaced"),
            "files_skipped": result.count("skipped"),
            "files_rejected": result.count("rejected"),
            "files_incomplete": result.count("incomplete"),
            "missing": ", ".join(result.missing) or "none",
        })
        yield dg.AssetCheckResult(
            check_name=REJECTED_SHARE_CHECK,
            asset_key=key,
            passed=share <= threshold,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows": result.rows_loaded + result.rows_rejected,
                "rejected": result.rows_rejected,
                "rejected_pct": round(100 * share, 3),
                "threshold_pct": round(100 * threshold, 3),
                "failure_sample": failure_sample,
            },
        )
        waiting = [o.relative_path for o in result.outcomes if o.outcome == "incomplete"]
        yield dg.AssetCheckResult(
            check_name=ARRIVED_CHECK,
            asset_key=key,
            passed=not result.missing and not waiting,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "missing": ", ".join(result.missing) or "none",
                "awaiting_control_file": ", ".join(waiting) or "none",
                "files": len(result.outcomes),
            },
        )

    return _staging


staging_assets = [build_staging_asset(name) for name in SUPPORTED_FEEDS]
