"""A failed run raises an alert: a log line, and a POST to the configured webhook on loopback."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg

from assets.definitions import defs
from reconcile.config import default_settings
from tests import slice_fixture


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_failed_run_posts_an_alert_without_phi(tmp_path, monkeypatch, caplog):
    from assets.runner import run_range

    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CHARTLEDGER_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    slice_fixture.build(tmp_path / "landing")
    # a DFT file whose every message is bad: the blocking check fails the run
    (tmp_path / "landing/ehr/charges/DFT_NORTH_20260303.hl7").write_text(
        slice_fixture._dft("D3", "202603032300", "N2", slice_fixture._ft1(
            1, "T5", "20260302", "20260303", "CG", "310044", "1", "abc", "IMG")))
    from tests.landing_kit import write_control

    write_control(tmp_path / "landing/ehr/charges/DFT_NORTH_20260303.hl7", 1)
    settings = default_settings(tmp_path / "landing", tmp_path / "w.duckdb")
    outcome = run_range(settings, dt.date(2026, 3, 3), dt.date(2026, 3, 3), echo=False)
    assert not outcome.ok
    instance = dg.DagsterInstance.from_config(str(tmp_path / "dh"))
    run = instance.get_runs(limit=1)[0]
    failure = next(e for e in instance.all_logs(run.run_id)
                   if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE)
    sensor = defs.resolve_sensor_def("alert_on_run_failure")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=run,
        dagster_event=failure.dagster_event).for_run_failure()
    with caplog.at_level("ERROR", logger="chartledger.alerts"):
        sensor(context)
    server.shutdown()
    assert len(_Hook.received) == 1
    alert = _Hook.received[0]
    assert (alert["run_id"], alert["job"], alert["partition"]) == (run.run_id, "nightly",
                                                                   "2026-03-03")
    assert "ChartLedger run failed" in caplog.text
    assert "MRN0000001" not in json.dumps(alert) and "DOE" not in json.dumps(alert)
