"""The Dagster code location: the graph's shape, and a day materialized through it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.definitions import defs
from reconcile.config import default_settings
from reconcile.warehouse import Warehouse
from tests import slice_fixture
from tests.landing_kit import write_feed_file

REPO = Path(__file__).resolve().parent.parent

FETCH_ASSETS = {"landing/fetch_sftp", "landing/fetch_rest_api", "landing/fetch_fhir_bulk",
                "landing/fetch_sql"}
EXPECTED_ASSETS = {
    *FETCH_ASSETS,
    "landing/landed_files",
    "staging/adt", "staging/charges", "staging/procedures", "staging/med_administrations",
    "staging/case_supplies", "staging/item_master", "staging/chargemaster",
    "staging/department_map", "staging/cabinet_transactions", "staging/inventory_transactions",
    "staging/gl_journal_lines", "staging/cost_centers", "staging/billing_accounts",
    "staging/timecards",
    "canonical/canonical_model",
    "recon/exceptions",
    "publish/analyst_database",
    "reports/close_package",
}


def test_graph_snapshot():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    job = defs.resolve_job_def("nightly")
    assert job.partitions_def is not None
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for name in ("close_preliminary_schedule", "close_final_schedule"):
        close = defs.resolve_schedule_def(name)
        assert close.cron_schedule == "0 6 * * 1-5"  # the tick picks the business day
        assert close.default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_job_def("close").partitions_def.get_partition_keys()[0] == "2025-01-01"
    staging = [graph.get(dg.AssetKey(["staging", "charges"]))]
    checks = [spec for node in staging for spec in node.check_keys]
    assert sorted(c.name for c in checks) == ["arrived_on_time", "rejected_share_per_facility",
                                              "rejected_share_within_threshold"]
    # what the UI shows: owners, groups, column schemas, kinds and source-system tags
    node = graph.get(dg.AssetKey(["staging", "charges"]))
    spec = next(s for s in defs.resolve_all_asset_specs() if s.key == node.key)
    assert spec.owners == ["team:integration"] and spec.group_name == "staging"
    assert spec.tags["source_system"] == "ehr" and spec.kinds == {"duckdb", "hl7"}
    columns = {c.name: c.type for c in spec.metadata["dagster/column_schema"].columns}
    assert columns["extended_amount"].startswith("decimal") and "transaction_id" in columns
    recon = next(s for s in defs.resolve_all_asset_specs() if s.key.path == ["recon", "exceptions"])
    described = {c.name: c.description for c in recon.metadata["dagster/column_schema"].columns}
    assert described["amount_impact"]  # descriptions come from the data dictionary
    landing = defs.get_assets_def(dg.AssetKey(["landing", "landed_files"]))
    policy = landing.op.retry_policy
    assert policy.max_retries == 3 and policy.backoff == dg.Backoff.EXPONENTIAL


def test_definitions_validate_command():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
         "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


@pytest.fixture()
def landing(tmp_path):
    slice_fixture.build(tmp_path / "landing")
    return tmp_path


def test_a_day_through_dagster_records_metadata(landing, monkeypatch):
    from assets.runner import run_range

    monkeypatch.setenv("DAGSTER_HOME", str(landing / "dh"))
    settings = default_settings(landing / "landing", landing / "w.duckdb")
    outcome = run_range(settings, dt.date(2026, 3, 2), dt.date(2026, 3, 3), echo=False)
    assert outcome.ok
    instance = dg.DagsterInstance.from_config(str(landing / "dh"))
    event = instance.get_latest_materialization_event(dg.AssetKey(["staging", "charges"]))
    assert event is not None
    meta = event.asset_materialization.metadata
    assert meta["rows_loaded"].value == 3  # T5 and T6 (one message) + T7 on 03-03
    assert meta["rows_rejected"].value == 0
    # the fixture sends no pharmacy feed: its freshness check fails (a warning), for NORTH
    arrived = instance.event_log_storage.get_latest_asset_check_execution_by_key([
        dg.AssetCheckKey(dg.AssetKey(["staging", "cabinet_transactions"]),
                         "arrived_on_time"),
        dg.AssetCheckKey(dg.AssetKey(["staging", "charges"]), "arrived_on_time")])
    verdicts = {k.asset_key.path[-1]: v.event.dagster_event.event_specific_data
                for k, v in arrived.items()}
    assert verdicts["cabinet_transactions"].passed is False
    assert verdicts["cabinet_transactions"].metadata["missing"].value == "NORTH"
    assert verdicts["charges"].passed is True
    with Warehouse(settings.warehouse_path).reader() as con:
        audit = con.execute(
            "SELECT partition_key, started_by, inputs, outputs, outcome FROM ops.run_log "
            "WHERE step = 'staging/charges' ORDER BY partition_key").fetchall()
        steps = con.execute("SELECT count(DISTINCT step) FROM ops.run_log").fetchone()[0]
    # every nightly step writes a row, a fetch with no channel configured too (the close is a
    # monthly job)
    assert steps == len(EXPECTED_ASSETS) - 1
    assert [(a[0], a[1], a[4]) for a in audit] == [("2026-03-02", "cli", "success"),
                                                   ("2026-03-03", "cli", "success")]
    assert '"file": "ehr/charges/DFT_NORTH_20260303.hl7"' in audit[1][2]
    assert '"sha256": "' in audit[1][2]
    assert '"staging.charges": 3' in audit[1][3]


def test_blocking_check_stops_reconciliation_for_the_day(landing, monkeypatch):
    from assets.runner import run_range

    monkeypatch.setenv("DAGSTER_HOME", str(landing / "dh"))
    # 03-03 charges: one of two messages is broken -> 50% rejected, above the 5% threshold
    write_feed_file(landing / "landing", "ehr/charges/DFT_NORTH_20260303.hl7",
                    slice_fixture._dft("D3", "202603032300", "N2", slice_fixture._ft1(
                        1, "T5", "20260302", "20260303", "CG", "310044", "1", "abc", "IMG"))
                    + slice_fixture._dft("D4", "202603032300", "N1", slice_fixture._ft1(
                        1, "T7", "20260303", "20260303", "CG", "330120", "1", "1840.00", "SURG")))
    settings = default_settings(landing / "landing", landing / "w.duckdb")
    outcome = run_range(settings, dt.date(2026, 3, 3), dt.date(2026, 3, 3), echo=False)
    assert not outcome.ok
    assert outcome.days[0].failed_checks == ["staging/charges"]
    with Warehouse(settings.warehouse_path).reader() as con:
        evaluated = con.execute("SELECT count(*) FROM recon.rule_runs").fetchone()[0]
        rejected = con.execute(
            "SELECT row_number, \"column\" FROM staging.rejected_rows ORDER BY 2").fetchall()
    assert evaluated == 0  # recon did not run on data that failed its check
    instance = dg.DagsterInstance.from_config(str(landing / "dh"))
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey(["staging", "charges"]), "rejected_share_within_threshold")]
    )
    evaluation = next(iter(check.values())).event.dagster_event.event_specific_data
    assert evaluation.passed is False
    assert evaluation.metadata["rejected"].value == 1
    assert evaluation.metadata["rejected_pct"].value == 50.0
    sample = evaluation.metadata["failure_sample"].records
    assert [(r.data["row"], r.data["column"]) for r in sample] == [(1, "extended_amount"),
                                                                   (1, "unit_amount")]
    # the fixture writes the amount into FT1-11 and FT1-12: lazy validation reports both
    assert rejected == [(1, "extended_amount"), (1, "unit_amount")]
