"""Schedule and sensor ticks through Dagster's test contexts: the right partitions, the right
run configuration, and the alert a failed run sends."""

import datetime as dt
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from assets.definitions import defs
from assets.schedules import business_day_of_month, previous_month_partition

REPO = defs.get_repository_def()


def _tick(name: str, when: dt.datetime):
    schedule = defs.resolve_schedule_def(name)
    context = dg.build_schedule_context(scheduled_execution_time=when, repository_def=REPO)
    return schedule.evaluate_tick(context)


def test_nightly_tick_asks_for_the_previous_business_date_in_the_site_time_zone():
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"  # tests run without CHARTLEDGER_TIMEZONE
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    result = _tick("nightly_schedule", dt.datetime(2026, 10, 5, 2, 0, tzinfo=ZoneInfo("UTC")))
    [request] = result.run_requests
    assert request.partition_key == "2026-10-04"
    assert request.run_key == "nightly-2026-10-04"
    # 02:00 in New York on 1 Nov (the DST change) is still the 31 Oct business date's night
    ny = _tick("nightly_schedule", dt.datetime(2026, 11, 1, 2, 0, tzinfo=ZoneInfo("America/New_York")))
    assert [r.partition_key for r in ny.run_requests] == ["2026-10-31"]


def test_business_days_skip_weekends():
    # November 2026 starts on a Sunday: business day 1 is Monday the 2nd, 3 is Wednesday the 4th
    assert business_day_of_month(dt.date(2026, 11, 1)) is None
    assert business_day_of_month(dt.date(2026, 11, 2)) == 1
    assert business_day_of_month(dt.date(2026, 11, 4)) == 3
    assert business_day_of_month(dt.date(2026, 12, 1)) == 1  # a Tuesday
    assert previous_month_partition(dt.date(2026, 1, 2)) == "2025-12-01"


@pytest.mark.parametrize(("day", "preliminary", "final"), [
    (dt.date(2026, 11, 2), "2026-10-01", None),   # business day 1: preliminary October
    (dt.date(2026, 11, 3), None, None),           # business day 2: nothing
    (dt.date(2026, 11, 4), None, "2026-10-01"),   # business day 3: final October
    (dt.date(2026, 12, 1), "2026-11-01", None),   # Tuesday the 1st is business day 1
    (dt.date(2026, 12, 3), None, "2026-11-01"),
])
def test_close_ticks_on_the_first_business_days_of_the_next_month(day, preliminary, final):
    when = dt.datetime.combine(day, dt.time(6, 0), tzinfo=ZoneInfo("UTC"))
    for name, expected, flag in (("close_preliminary_schedule", preliminary, True),
                                 ("close_final_schedule", final, False)):
        result = _tick(name, when)
        if expected is None:
            assert not result.run_requests and result.skip_message, name
            continue
        [request] = result.run_requests
        assert request.partition_key == expected, name
        assert request.run_config == {
            "ops": {"reports__close_package": {"config": {"preliminary": flag}}}}
        assert request.tags["chartledger/close"] == ("preliminary" if flag else "final")


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_run_failure_sensor_posts_the_failed_partition_to_the_webhook(tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CHARTLEDGER_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    _Hook.received.clear()

    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-10-01"))
    def broken():
        raise RuntimeError("boom")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([broken], partition_key="2026-10-04", instance=instance,
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=instance,
        dagster_run=result.dagster_run, dagster_event=failure,
    ).for_run_failure()
    try:
        defs.resolve_sensor_def("alert_on_run_failure")(context)
    finally:
        server.shutdown()
    [alert] = _Hook.received
    assert alert["run_id"] == result.run_id and alert["partition"] == "2026-10-04"
    assert alert["text"] == "ChartLedger run failed"


def test_late_file_sensor_requests_one_run_per_file_of_a_day_that_already_ran(tmp_path):
    from resources.chartledger import ChartLedgerResource
    from tests.landing_kit import write_feed_file

    landing = tmp_path / "landing"
    landing.mkdir()
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=["staging", "charges"], partition="2026-10-01"))
    resources = {"chartledger": ChartLedgerResource(landing_root=str(landing),
                                                    warehouse=str(tmp_path / "w.duckdb"))}
    sensor = defs.resolve_sensor_def("late_file_sensor")

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                          repository_def=REPO)
        return sensor.evaluate_tick(context), context.cursor

    first, cursor = tick(None)  # the first tick only starts watching
    assert not first.run_requests and cursor
    write_feed_file(landing, "ehr/charges/DFT_OLD_20260930.hl7", "MSH|x\n", rows=1)
    old = float(cursor) - 60
    os.utime(landing / "ehr/charges/DFT_OLD_20260930.hl7.ctl", (old, old))  # before the cursor
    for name in ("DFT_NORTH_20261001.hl7", "DFT_SOUTH_20261001.hl7", "DFT_NORTH_20261002.hl7"):
        write_feed_file(landing, f"ehr/charges/{name}", "MSH|x\n", rows=1)
    result, cursor = tick(cursor)
    # 10-01 already ran: one rerun per late file; 10-02 has not run yet: the schedule takes it
    assert [(r.partition_key, r.tags["chartledger/late_file"]) for r in result.run_requests] == [
        ("2026-10-01", "ehr/charges/DFT_NORTH_20261001.hl7"),
        ("2026-10-01", "ehr/charges/DFT_SOUTH_20261001.hl7")]
    assert len({r.run_key for r in result.run_requests}) == 2
    again, _ = tick(cursor)
    assert not again.run_requests  # nothing new since
