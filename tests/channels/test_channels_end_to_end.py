"""Acceptance of issue 4: the demo served over real channels on loopback (`serve-demo`'s servers)
and fetched by the nightly graph gives exactly the exceptions of the same days run from files."""

from __future__ import annotations

import datetime as dt
import filecmp
import json

import dagster as dg
import pytest

from assets.channels import build_sftp_sensor
from assets.runner import run_range
from reconcile.config import default_settings, load_settings
from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.demo.serve import DemoServers
from reconcile.warehouse import Warehouse
from resources.channels import SftpChannelResource
from resources.chartledger import ChartLedgerResource
from tests.engine_kit import run_days

START = dt.date(2026, 10, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]
EXCEPTIONS = ("SELECT exception_id, rule_id, status, facility, visit_number, cdm_code, "
              "service_date, amount_impact, first_seen_run, last_seen_run FROM recon.exceptions "
              "ORDER BY exception_id")


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory):
    source = tmp_path_factory.mktemp("source") / "landing"
    generate(source, GeneratorOptions(start=START, days=len(DAYS), visits_per_day=6, seed=11))
    return source


def _exceptions(warehouse_path):
    with Warehouse(warehouse_path).reader() as con:
        return con.execute(EXCEPTIONS).fetchall()


def test_three_days_over_the_channels_give_the_exceptions_of_the_file_run(
        demo_source, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    # the same days from the files, with the engine alone (the Dagster graph is what the channel
    # run below goes through; running the files through it too took three more nights of Dagster
    # overhead and compared nothing the engine's answer does not)
    files = default_settings(demo_source, tmp_path / "files" / "warehouse.duckdb")
    run_days(files, DAYS)
    expected = _exceptions(files.warehouse_path)
    assert expected, "the demo's default defects open exceptions"

    with DemoServers(demo_source, tmp_path / "served") as servers:
        settings = load_settings(servers.config_path)
        assert {c.type for c in settings.channels.values()} == {"sftp", "rest_api", "fhir_bulk",
                                                                 "sql"}
        for day in DAYS:  # the nightly runs, one per night, the vendor APIs answering as of it
            servers.set_day(day)
            assert run_range(settings, day, day, config_file=servers.config_path, echo=False).ok

    assert _exceptions(settings.warehouse_path) == expected
    # what came over the wire is byte for byte what the demo wrote
    for path in demo_source.rglob("*"):
        if path.is_file() and path.name != "truth.csv":
            fetched = settings.landing_root / path.relative_to(demo_source)
            assert filecmp.cmp(path, fetched, shallow=False), fetched
    with Warehouse(settings.warehouse_path).reader() as con:
        runs = con.execute("SELECT channel, count(DISTINCT extract_date), count(*) FILTER "
                           "(WHERE outcome = 'failed') FROM ops.channel_runs GROUP BY 1 "
                           "ORDER BY 1").fetchall()
        audited = con.execute("SELECT count(*) FROM ops.run_log WHERE step LIKE 'landing/fetch_%' "
                              "AND outcome = 'success'").fetchone()[0]
    assert runs == [("fhir_bulk", 3, 0), ("rest_api", 3, 0), ("sftp", 3, 0), ("sql", 3, 0)]
    assert audited == 4 * len(DAYS)


def test_sftp_sensor_starts_one_run_per_arrived_file(demo_source, tmp_path):
    with DemoServers(demo_source, tmp_path / "served") as servers:
        settings = load_settings(servers.config_path)
        Warehouse(settings.warehouse_path).ensure_schema()
        sensor = build_sftp_sensor("charges")
        resources = {"chartledger": ChartLedgerResource(config_file=str(servers.config_path)),
                     "sftp_channel": SftpChannelResource()}
        with dg.build_sensor_context(resources=resources) as context:
            first = sensor(context)
        keys = sorted(r.run_key for r in first.run_requests)
        # three facilities x three days of DFT files, each asking for its own extract date
        assert len(keys) == 9
        assert sorted({r.partition_key for r in first.run_requests}) == [d.isoformat() for d in DAYS]
        with dg.build_sensor_context(resources=resources, cursor=first.cursor) as context:
            again = sensor(context)
        assert again.run_requests == []  # the cursor: a file starts one run only
        assert sorted(json.loads(again.cursor)) == keys

        skipped_for = build_sftp_sensor("charges")
        file_only = ChartLedgerResource(landing_root=str(tmp_path), warehouse=str(tmp_path / "w.duckdb"))
        with dg.build_sensor_context(resources={"chartledger": file_only,
                                                "sftp_channel": SftpChannelResource()}) as context:
            skip = skipped_for(context)
        assert isinstance(skip, dg.SkipReason)
