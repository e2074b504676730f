"""Sensors: an alert on every failed run (log, and the configured webhook); late files rerun their day."""

import dagster as dg

from assets.late_files import late_file_sensor
from reconcile.alerts import send_alert


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Logs every failed ChartLedger run and posts it to CHARTLEDGER_ALERT_WEBHOOK "
    "when that is set (run id, job, partition and the failure, never patient data).",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    send_alert("ChartLedger run failed", {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition", ""),
        "failure": (context.failure_event.message or "")[:500],
    })


SENSORS = [alert_on_run_failure, late_file_sensor]
