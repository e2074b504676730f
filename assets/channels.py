"""Fetch assets (one per channel type) and the SFTP arrival sensors.

Each nightly partition first fetches its extract date over the configured channels into the
landing directory (a type with no channel configured does nothing); `landing/landed_files` then
takes what is there. Channel health (files, rows, bytes, retries, errors per feed) is asset
metadata and rows of ops.channel_runs. An SFTP feed's sensor starts the partition's nightly run
as soon as a complete file (data and control file) is on the server: one run per file version.
"""

import json

import dagster as dg

from assets.jobs import nightly_job
from assets.partitions import daily_partitions, partition_date
from assets.policies import CHANNEL_RETRY_POLICY
from reconcile.audit import StepAudit, started_by
from reconcile.channels.base import ChannelStats
from reconcile.feeds import FEEDS
from resources.channels import ChannelResource, SftpChannelResource
from resources.chartledger import ChartLedgerResource

FETCH_KINDS = {"sftp": {"sftp"}, "rest_api": {"api"}, "fhir_bulk": {"fhir", "api"},
               "sql": {"sql", "sqlalchemy"}}
SFTP_FEEDS = ("adt", "charges", "cabinet_transactions", "inventory_transactions", "item_master",
              "billing_accounts")  # the feeds feeds.md sends over SFTP
RUN_STATS_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("channel", "string"), dg.TableColumn("feed", "string"),
    dg.TableColumn("outcome", "string"), dg.TableColumn("files", "int"),
    dg.TableColumn("rows", "int"), dg.TableColumn("bytes", "int"),
    dg.TableColumn("retries", "int"), dg.TableColumn("errors", "int"),
])


def _stats_table(stats: list[ChannelStats]) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(records=[dg.TableRecord({
        "channel": s.channel, "feed": s.feed, "outcome": s.outcome, "files": s.files_fetched,
        "rows": s.rows_fetched, "bytes": s.bytes_fetched, "retries": s.retries,
        "errors": len(s.errors)}) for s in stats], schema=RUN_STATS_SCHEMA)


def build_fetch_asset(channel_type: str, resource_key: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["landing", f"fetch_{channel_type}"],
        group_name="landing",
        partitions_def=daily_partitions,
        pool="warehouse",  # records ops.channel_runs, watermarks and its audit row
        retry_policy=CHANNEL_RETRY_POLICY,
        kinds=FETCH_KINDS[channel_type],
        owners=["team:integration"],
        tags={"layer": "landing", "channel": channel_type},
        required_resource_keys={"chartledger", resource_key},
        description=f"Fetch the extract date's feeds over every configured `{channel_type}` "
        "channel into the landing directory, atomically, with control files (nothing to do "
        "when the site has none). Fails, and is retried with backoff, when a channel fails: "
        "the day is not reconciled with a source missing.",
    )
    def fetch(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        chartledger: ChartLedgerResource = context.resources.chartledger
        channel: ChannelResource = getattr(context.resources, resource_key)
        settings = chartledger.settings()
        day = partition_date(context)
        names = channel.configured(settings)
        warehouse = chartledger.open_warehouse()
        audit = StepAudit(context.run.run_id, context.partition_key, f"landing/fetch_{channel_type}",
                          started_by(context.run.tags))
        if not names:
            audit.outputs = {"channels": 0}
            with warehouse.writer() as con:
                audit.write(con)
            return dg.MaterializeResult(metadata={"channels": 0, "note": "no channel configured"})
        result = channel.fetch(settings, day, warehouse)
        audit.inputs = [{"channel": s.channel, "feed": s.feed, "outcome": s.outcome,
                         "files": s.files, "rows": s.rows_fetched, "bytes": s.bytes_fetched,
                         "retries": s.retries} for s in result.stats]
        audit.outputs = {"files": sum(s.files_fetched for s in result.stats),
                         "rows": sum(s.rows_fetched for s in result.stats)}
        metadata = {
            "channels": len(names),
            "files_fetched": sum(s.files_fetched for s in result.stats),
            "rows_fetched": sum(s.rows_fetched for s in result.stats),
            "bytes_fetched": sum(s.bytes_fetched for s in result.stats),
            "retries": sum(s.retries for s in result.stats),
            "errors": sum(len(s.errors) for s in result.stats) + len(result.failures),
            "by_feed": _stats_table(result.stats),
        }
        with warehouse.writer() as con:
            audit.write(con, "failed" if result.failures else None)
        if result.failures:
            raise dg.Failure(description="; ".join(result.failures)[:2000], metadata=metadata)
        context.log.info("%s: fetched %d files over %d %s channel(s)", day,
                         metadata["files_fetched"], len(names), channel_type)
        return dg.MaterializeResult(metadata=metadata)

    return fetch


FETCH_ASSETS = [build_fetch_asset("sftp", "sftp_channel"),
                build_fetch_asset("rest_api", "rest_api_channel"),
                build_fetch_asset("fhir_bulk", "fhir_bulk_channel"),
                build_fetch_asset("sql", "sql_channel")]


def build_sftp_sensor(feed: str) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"sftp_arrival_{feed}",
        job=nightly_job,
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts the nightly run of an extract date as soon as a complete {feed} "
        f"file ({FEEDS[feed].feed_id}: data and control file) is on the SFTP server; one run per "
        "file version (run key = remote name and checksum). Skips when the site does not fetch "
        f"{feed} over SFTP.",
    )
    def arrivals(context: dg.SensorEvaluationContext, chartledger: ChartLedgerResource,
                 sftp_channel: SftpChannelResource) -> dg.SensorResult | dg.SkipReason:
        settings = chartledger.settings()
        spec = settings.feeds.get(feed)
        if (spec is None or spec.channel not in settings.channels
                or settings.channels[spec.channel].type != "sftp" or not sftp_channel.enabled):
            return dg.SkipReason(f"{feed} is not fetched over SFTP at this site")
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        ready = sftp_channel.ready_files(settings, chartledger.open_warehouse(), feed)
        requests, keys = [], []
        for file in ready:
            key = f"{file.remote_path}@{file.sha256}"
            keys.append(key)
            if key in seen:
                continue
            requests.append(dg.RunRequest(
                run_key=key, partition_key=file.extract_date.isoformat(),
                tags={"chartledger/trigger": f"sftp:{feed}"}))
        # the cursor keeps the keys still waiting on the server, so a file starts one run only
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(sorted(keys)))

    return arrivals


SFTP_SENSORS = [build_sftp_sensor(feed) for feed in SFTP_FEEDS]
