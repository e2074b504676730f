"""Staging: one asset per feed, with checks on rejected rows (per facility) and on arrival.

One facility's bad feed does not hold back the others: a facility whose own file rejects more
than the threshold share of rows is held out of that night's reconciliation (a warning check
names it), and the blocking check stops the day only when no facility's data is usable or a
system-wide feed is bad.
"""

import dagster as dg
import duckdb

from assets.landing import landed_files
from assets.partitions import daily_partitions, partition_date
from assets.schemas import table_metadata
from assets.steps import audited_step
from reconcile.feeds import FEEDS
from reconcile.pipeline import FeedDay, load_feed_day
from reconcile.readers import SUPPORTED_FEEDS
from reconcile.sqlfiles import query_sql_file
from resources.chartledger import ChartLedgerResource

REJECTED_SHARE_CHECK = "rejected_share_within_threshold"
FACILITY_SHARE_CHECK = "rejected_share_per_facility"
ARRIVED_CHECK = "arrived_on_time"


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


def _shares(result: FeedDay) -> dict[str, tuple[int, int]]:
    """Rows loaded and rejected per facility ('*' for a system-wide feed)."""
    shares: dict[str, tuple[int, int]] = {}
    for o in result.outcomes:
        loaded, rejected = shares.get(o.facility or "*", (0, 0))
        shares[o.facility or "*"] = (loaded + o.rows_loaded, rejected + o.rows_rejected)
    return shares


def _over(shares: dict[str, tuple[int, int]], threshold: float) -> list[str]:
    return sorted(f for f, (ok, bad) in shares.items() if ok + bad and bad > threshold * (ok + bad))


def build_staging_asset(feed_name: str) -> dg.AssetsDefinition:
    feed = FEEDS[feed_name]
    key = dg.AssetKey(["staging", feed_name])
    source = feed.source_system.split(" ")[0].lower()

    @dg.asset(
        key=key,
        group_name="staging",
        partitions_def=daily_partitions,
        deps=[landed_files],
        pool="warehouse",
        kinds={"duckdb", feed.file_format},
        tags={"source_system": source, "feed_id": feed.feed_id.lower(),
              "per_facility": str(feed.per_facility).lower()},
        owners=["team:integration"],
        metadata={**table_metadata(f"staging.{feed.staging_table}"),
                  "source_system": feed.source_system, "landing_pattern": feed.pattern_text},
        description=f"{feed.feed_id} {feed_name} from {feed.source_system}: the day's files "
        f"({feed.pattern_text}) parsed, validated with pandera and loaded into "
        f"staging.{feed.staging_table}; rejected rows go to staging.rejected_rows.",
        check_specs=[dg.AssetCheckSpec(
            REJECTED_SHARE_CHECK, asset=key, blocking=True,
            description="Rejected rows stay below the configured share "
            "(thresholds.rejected_share_threshold, default 5%) for the system-wide feed, or for "
            "at least one facility of a per-facility feed; otherwise the day's reconciliation "
            "stops for a person to look.",
        ), dg.AssetCheckSpec(
            FACILITY_SHARE_CHECK, asset=key, blocking=False,
            description="Per facility: a facility whose own file rejected more than the "
            "threshold share is held out of tonight's reconciliation (its exceptions keep their "
            "state); the other facilities go on.",
        ), dg.AssetCheckSpec(
            ARRIVED_CHECK, asset=key, blocking=False,
            description="Freshness: every expected file of the day arrived complete by the "
            "feed's deadline ([sla], site time, the day after the extract date), per facility "
            "for per-facility feeds. A missing, late or still-incomplete one fails this check "
            "and shows in ops.feed_status (missing, late, incomplete).",
        )],
    )
    def _staging(context: dg.AssetExecutionContext, chartledger: ChartLedgerResource):
        day = partition_date(context)
        settings = chartledger.settings()
        threshold = float(settings.thresholds.rejected_share_threshold)
        with audited_step(context, chartledger, f"staging/{feed_name}") as (audit, con):
            result = load_feed_day(con, settings, feed_name, day, context.run.run_id)
            shares = _shares(result)
            over = _over(shares, threshold)
            usable = [f for f, (ok, _bad) in shares.items() if ok and f not in over]
            blocked = bool(over) and (not feed.per_facility or not usable)
            audit.inputs = [{"file": o.relative_path, "outcome": o.outcome, "rows": o.rows_loaded,
                             "rejected": o.rows_rejected, "sha256": o.sha256}
                            for o in result.outcomes]
            audit.outputs = {f"staging.{feed.staging_table}": result.rows_loaded,
                             "staging.rejected_rows": result.rows_rejected}
            audit.outcome = "blocked" if blocked else "success"
            failure_sample = _failure_sample(con, result)  # same connection: no second open
        share = result.rejected_share
        waiting = [o.relative_path for o in result.outcomes if o.outcome == "incomplete"]
        context.log.info("%s %s: %d rows loaded, %d rejected, %d files, missing: %s, late: %s",
                         feed_name, day, result.rows_loaded, result.rows_rejected,
                         len(result.outcomes), ",".join(result.missing) or "none",
                         ",".join(result.late) or "none")
        yield dg.MaterializeResult(metadata={
            "dagster/row_count": result.rows_loaded,
            "rows_loaded": result.rows_loaded,
            "rows_rejected": result.rows_rejected,
            "rejected_pct": round(100 * share, 3),
            "files_loaded": result.count("loaded") + result.count("replaced"),
            "files_skipped": result.count("skipped"),
            "files_rejected": result.count("rejected"),
            "files_incomplete": result.count("incomplete"),
            "missing": ", ".join(result.missing) or "none",
            "late": ", ".join(result.late) or "none",
            "held_facilities": ", ".join(f for f in over if f != "*") or "none",
        })
        yield dg.AssetCheckResult(
            check_name=REJECTED_SHARE_CHECK,
            asset_key=key,
            passed=not blocked,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows": result.rows_loaded + result.rows_rejected,
                "rejected": result.rows_rejected,
                "rejected_pct": round(100 * share, 3),
                "threshold_pct": round(100 * threshold, 3),
                "failure_sample": failure_sample,
            },
        )
        yield dg.AssetCheckResult(
            check_name=FACILITY_SHARE_CHECK,
            asset_key=key,
            passed=not over,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "held_facilities": ", ".join(over) or "none",
                "rejected_pct_by_facility": dg.MetadataValue.json({
                    f: round(100 * bad / (ok + bad), 3) if ok + bad else 0.0
                    for f, (ok, bad) in sorted(shares.items())}),
                "threshold_pct": round(100 * threshold, 3),
            },
        )
        yield dg.AssetCheckResult(
            check_name=ARRIVED_CHECK,
            asset_key=key,
            passed=not result.missing and not result.late and not waiting,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "due_at": result.due_at.isoformat() if result.due_at else "",
                "missing": ", ".join(result.missing) or "none",
                "late": ", ".join(result.late) or "none",
                "not_yet_due": ", ".join(result.pending) or "none",
                "awaiting_control_file": ", ".join(waiting) or "none",
                "files": len(result.outcomes),
            },
        )

    return _staging


staging_assets = [build_staging_asset(name) for name in SUPPORTED_FEEDS]
