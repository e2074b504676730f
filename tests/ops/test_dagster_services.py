"""End to end through Dagster's own services: dagster-webserver and dagster-daemon on loopback
with a temporary DAGSTER_HOME (deploy/dagster.local.yaml), a 3-day backfill of the nightly job
for the demo system's 3 facilities launched through GraphQL (one run more than the instance's
max_concurrent_runs of 2, so runs are queued and run side by side), the run queue and the warehouse
pool honoured, complete audit rows, metadata read back through GraphQL, and the asset graph
opened in headless Chromium (a screenshot is kept as a test artifact)."""

import datetime as dt
import json
import os
import re
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.warehouse import Warehouse
from tests.ops.services_kit import REPO, Services, dagster_services

START = dt.date(2026, 10, 1)
# Three partitions: more runs than max_concurrent_runs (2), so two run at once under the pool and
# one waits in the queue; every partition has all 3 facilities. (Seven days took twice as long and
# asserted nothing more.)
DAYS = [(START + dt.timedelta(days=n)).isoformat() for n in range(3)]
ROLLING_WINDOW_DAYS = 14  # reconcile.config.Settings.rolling_window_days, the spec's default
# the steps ChartLedger audits in ops.run_log: 4 channel fetches, landing, 14 feeds, canonical,
# recon, publish
AUDITED_STEPS = 22
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

LOCATION_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } }
  ... on PythonError { message } } } } } }"""

BACKFILL_MUTATION = """mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
    ... on UnauthorizedError { message } ... on PartitionSetNotFoundError { message } } }"""

BACKFILL_QUERY = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status } ... on PythonError { message } } }"""

RUNS_QUERY = """query($filter: RunsFilter) { runsOrError(filter: $filter) {
  ... on Runs { results { runId status tags { key value } } } } }"""

METADATA_QUERY = """query($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) { ... on Asset { assetMaterializations(partitions: $partitions) {
    partition runId metadataEntries { label __typename
      ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue }
      ... on TextMetadataEntry { text } } } } } }"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("services")
    generate(root / "landing", GeneratorOptions(start=START, days=len(DAYS), visits_per_day=2,
                                                seed=11))
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHARTLEDGER_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "CHARTLEDGER_LANDING": str(root / "landing"),
        "CHARTLEDGER_WAREHOUSE": str(root / "warehouse.duckdb"),
        "CHARTLEDGER_PARTITIONS_START": START.isoformat(),
        "CHARTLEDGER_CHANNEL_RETRY_DELAY_S": "0.01",
    })
    return root, home, env


def _wait_for_location(services: Services, timeout_s: float = 180) -> tuple[str, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        entries = services.graphql(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
        if loaded:
            location = loaded[0]["locationOrLoadError"]
            assert location["__typename"] == "RepositoryLocation", location
            return loaded[0]["name"], location["repositories"][0]["name"]
        assert time.monotonic() < deadline, entries
        time.sleep(0.25)


def _wait_for_backfill(services: Services, backfill_id: str, timeout_s: float = 480) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    tag = {"tags": [{"key": "dagster/backfill", "value": backfill_id}]}
    while True:
        status = services.graphql(BACKFILL_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
        runs = services.graphql(RUNS_QUERY, {"filter": tag})["runsOrError"]["results"]
        failed = [r["runId"] for r in runs if r["status"] in ("FAILURE", "CANCELED")]
        assert not failed, f"runs failed: {failed}; logs in {services.logs}"
        if status.get("status") in ("COMPLETED", "COMPLETED_SUCCESS") and len(runs) == len(DAYS) \
                and all(r["status"] == "SUCCESS" for r in runs):
            return runs
        assert time.monotonic() < deadline, (status, [(r["runId"], r["status"]) for r in runs])
        time.sleep(0.5)


def _warehouse_steps() -> set[str]:
    """The nightly job's steps in the `warehouse` pool."""
    from assets.definitions import defs

    return {node.name for node in defs.resolve_job_def("nightly").graph.node_defs
            if node.pool == "warehouse"}


def _step_intervals(instance: dg.DagsterInstance, run_ids: list[str]) -> list[tuple[float, float, str]]:
    """(start, end, run:step) of every warehouse step, from the runs' own event logs."""
    pooled = _warehouse_steps()
    intervals = []
    for run_id in run_ids:
        starts: dict[str, float] = {}
        for record in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START,
                                                         dg.DagsterEventType.STEP_SUCCESS}):
            event = record.dagster_event
            if event.step_key not in pooled:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                starts[event.step_key] = record.timestamp
            else:
                intervals.append((starts[event.step_key], record.timestamp,
                                  f"{run_id[:8]}:{event.step_key}"))
    return sorted(intervals)


def test_backfill_through_the_webserver_and_daemon(site, monkeypatch):
    root, home, env = site
    t0 = time.monotonic()
    # the daemon starts once the backfill is submitted: its first pass picks it up at once
    with dagster_services(env, root / "service-logs", daemon_later=True) as services:
        location, repository = _wait_for_location(services)
        launched = services.graphql(BACKFILL_MUTATION, {"params": {
            "selector": {"partitionSetName": "nightly_partition_set",
                         "repositorySelector": {"repositoryLocationName": location,
                                                "repositoryName": repository}},
            "partitionNames": DAYS, "fromFailure": False,
        }})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        services.start_daemon()
        runs = _wait_for_backfill(services, backfill_id)
        print(f"backfill of {len(DAYS)} days done after {time.monotonic() - t0:.0f} s")

        # metadata of one partition, read back through GraphQL
        answer = services.graphql(METADATA_QUERY, {"key": {"path": ["staging", "charges"]},
                                                   "partitions": [DAYS[1]]})
        [materialization] = answer["assetOrError"]["assetMaterializations"]
        meta = {e["label"]: e for e in materialization["metadataEntries"]}
        assert meta["rows_loaded"]["intValue"] > 0 and meta["rows_rejected"]["intValue"] == 0
        recon = services.graphql(METADATA_QUERY, {"key": {"path": ["recon", "exceptions"]},
                                                  "partitions": [DAYS[-1]]})
        [recon_meta] = recon["assetOrError"]["assetMaterializations"]
        labels = {e["label"]: e for e in recon_meta["metadataEntries"]}
        window_start = dt.date.fromisoformat(DAYS[-1]) - dt.timedelta(days=ROLLING_WINDOW_DAYS - 1)
        assert labels["window_start"]["text"] == window_start.isoformat()  # 2026-09-20
        assert 0 <= labels["matched_pct_charges"]["floatValue"] <= 100
        assert "open_exceptions" in labels and "open_dollars" in labels

        screenshots = _screenshot_asset_graph(services, location)
    for path in screenshots:
        print(f"screenshot: {path}")

    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance's storage is read from it
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        run_ids = [r["runId"] for r in runs]
        partitions = {dict((t["key"], t["value"]) for t in r["tags"])["dagster/partition"]: r["runId"]
                      for r in runs}
        assert sorted(partitions) == DAYS
        # the pool: no two warehouse steps (all nightly steps) ever ran at once, across runs
        intervals = _step_intervals(instance, run_ids)
        assert len(intervals) == len(DAYS) * len(_warehouse_steps()) >= len(DAYS) * AUDITED_STEPS
        overlaps = [(a[2], b[2]) for a, b in zip(intervals, intervals[1:], strict=False)
                    if b[0] < a[1]]
        assert not overlaps
        # ... and the limit acted: the queue held runs while the pool was in use, or their
        # steps waited for a slot (which of the two depends on timing)
        step_waits = [r for run_id in run_ids for r in instance.all_logs(run_id)
                      if "blocked by limit for pool warehouse" in (r.message or "")]
        daemon_log = (services.logs / "daemon.log").read_text(errors="replace")
        queue_holds = re.findall(r"is blocked by global concurrency limits: \{\"warehouse\"",
                                 daemon_log)
        assert step_waits or queue_holds
        logs = "\n".join(str(r.message) for run_id in run_ids for r in instance.all_logs(run_id))
        assert "Could not set lock" not in logs
        for run_id in run_ids:
            stats = instance.get_run_stats(run_id)
            print(f"run {run_id[:8]}: queued->started {stats.start_time - stats.launch_time:.0f} s, "
                  f"ran {stats.end_time - stats.start_time:.0f} s")
    finally:
        instance.dispose()
    _assert_audit_complete(root / "warehouse.duckdb", partitions, backfill_id)


def _assert_audit_complete(warehouse: Path, partitions: dict[str, str], backfill_id: str) -> None:
    with Warehouse(warehouse).reader() as con:
        rows = con.execute(
            "SELECT run_id, partition_key, step, started_by, inputs, outputs, started_at, "
            "finished_at, outcome FROM ops.run_log ORDER BY partition_key, step").fetchall()
        mrns = {r[0] for r in con.execute("SELECT DISTINCT mrn FROM staging.adt_events").fetchall()}
        per_facility = con.execute(
            "SELECT count(DISTINCT facility) FROM ops.feed_status WHERE facility <> '*'").fetchone()[0]
    assert per_facility == 3
    assert len(rows) == len(DAYS) * AUDITED_STEPS
    assert len({(r[1], r[2]) for r in rows}) == len(rows)  # one row per day and step
    assert {(r[1], r[0]) for r in rows} == set(partitions.items())
    for _run, partition, step, started_by, inputs, outputs, started, finished, outcome in rows:
        assert started_by == f"backfill:{backfill_id}", (partition, step)
        assert outcome == "success" and started <= finished, (partition, step)
        assert json.loads(outputs), (partition, step)
        if step.startswith("staging/") or step == "landing/landed_files":
            files = json.loads(inputs)
            assert files and all(len(f["sha256"]) == 64 for f in files), (partition, step)
    charges = [json.loads(r[4]) for r in rows if r[2] == "staging/charges"]
    assert all({"file", "sha256", "rows", "rejected", "outcome"} <= set(f) for day in charges
               for f in day)
    text = "\n".join(str(v) for row in rows for v in row)
    assert mrns and not [m for m in mrns if m in text]  # no patient identifiers in the audit


def _screenshot_asset_graph(services: Services, location: str) -> list[Path]:
    """The global asset lineage (groups landing -> ... -> publish/reports) and the recon group's
    graph after the backfill, as PNGs under $CHARTLEDGER_TEST_ARTIFACTS (default test-artifacts/)."""
    assert CHROMIUM.exists(), "Debian's chromium (/usr/bin/chromium) is needed: scripts/setup --with-browser"
    from playwright.sync_api import sync_playwright

    target = Path(os.environ.get("CHARTLEDGER_TEST_ARTIFACTS", REPO / "test-artifacts"))
    target.mkdir(parents=True, exist_ok=True)
    shots = {"dagster_asset_graph.png": ("/asset-groups", "canonical"),
             "dagster_recon_group.png": (f"/locations/{location}/asset-groups/recon", "exceptions")}
    paths = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            for name, (url, node) in shots.items():
                page.goto(f"{services.base_url}{url}", wait_until="load", timeout=60_000)
                page.get_by_text(node, exact=True).first.wait_for(timeout=60_000)
                time.sleep(2)  # the graph lays itself out after its nodes render
                page.screenshot(path=str(target / name))
                paths.append(target / name)
            page.goto(f"{services.base_url}/asset-groups", wait_until="load", timeout=60_000)
            for group in ("landing", "staging", "canonical", "recon", "publish", "reports"):
                page.get_by_text(group, exact=True).first.wait_for(timeout=30_000)
        finally:
            browser.close()
    assert all(path.stat().st_size > 20_000 for path in paths)
    return paths
