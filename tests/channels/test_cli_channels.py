"""`chartledger fetch` and `chartledger serve-demo` as a user runs them."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest

from reconcile.cli import main
from reconcile.config import load_settings
from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.demo.serve import DemoServers

DAY = dt.date(2026, 10, 1)


def test_fetch_lands_a_day_over_every_channel_and_says_so(tmp_path, capsys):
    source = tmp_path / "source"
    generate(source, GeneratorOptions(start=DAY, days=1, visits_per_day=4, seed=5))
    with DemoServers(source, tmp_path / "served") as servers:
        servers.set_day(DAY)
        assert main(["fetch", "--config", str(servers.config_path), "--date", "2026-10-01"]) == 0
        printed = capsys.readouterr().out
        settings = load_settings(servers.config_path)
        for feed in ("adt", "charges", "gl_journal_lines", "procedures", "cost_centers"):
            assert feed in printed
        assert (settings.landing_root / "erp/gl/GL_20261001.ndjson.ctl").exists()
        assert (settings.landing_root / "ehr/adt/ADT_NORTH_20261001.hl7").read_bytes() == \
            (source / "ehr/adt/ADT_NORTH_20261001.hl7").read_bytes()
        # the SFTP server goes away: the fetch fails with the channel named, nothing half-landed
        servers.sftp.stop()
        assert main(["fetch", "--config", str(servers.config_path), "--date", "2026-10-02",
                     "--feed", "charges"]) == 1
        assert "demo_sftp" in capsys.readouterr().err
        assert not list(settings.landing_root.rglob("*20261002*"))


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_demo_writes_a_working_configuration_and_stops_on_a_signal(tmp_path, stop_signal):
    source = tmp_path / "source"
    generate(source, GeneratorOptions(start=DAY, days=1, visits_per_day=3, seed=5))
    work = tmp_path / "served"
    proc = subprocess.Popen([sys.executable, "-m", "reconcile.cli", "serve-demo", "--source",
                             str(source), "--dir", str(work)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ})
    try:
        deadline = time.monotonic() + 60
        while not (work / "chartledger.toml").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        time.sleep(0.5)
        settings = load_settings(work / "chartledger.toml")
        assert {c.type for c in settings.channels.values()} == {"sftp", "rest_api", "fhir_bulk",
                                                                 "sql"}
        assert oct((work / "secrets" / "sftp_password").stat().st_mode)[-3:] == "600"
        assert main(["fetch", "--config", str(work / "chartledger.toml"), "--date", "2026-10-01",
                     "--feed", "adt", "--feed", "cost_centers"]) == 0
    finally:
        proc.send_signal(stop_signal)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "SFTP" in out and "FHIR Bulk" in out
