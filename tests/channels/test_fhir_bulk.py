"""FHIR Bulk Data channel (F3, F4) against the demo's API server on loopback: kick-off, polling,
manifest and downloads land the demo's own files day after day with `_since` = the last
transactionTime; a failed export (error[] entries, a broken file, one that never completes) lands
nothing and keeps `_since`; the one that never completes is cancelled with DELETE."""

from __future__ import annotations

import logging

import pytest
import requests

from reconcile.channels.base import ChannelError
from reconcile.channels.fhir_bulk import FhirBulkConfig, fetch_fhir_bulk, landing_path
from reconcile.channels.state import get_watermark
from reconcile.config import ConfigError
from reconcile.demo.api_server import DemoApiServer
from reconcile.warehouse import Warehouse
from tests.channels import api_fixtures as fx
from tests.channels.api_fixtures import (
    CLIENT_ID,
    DAYS,
    ENV,
    SECRET_ENV,
    fhir_config,
    files_under,
    same_as_demo,
)

# the fixtures this module uses (by name)
api_source, api_server, api_landing = fx.api_source, fx.api_server, fx.api_landing
api_warehouse, _empty_warehouse = fx.api_warehouse, fx._empty_warehouse

TYPES = ("Procedure", "MedicationAdministration")
FEEDS = ("procedures", "med_administrations")
PHI = "MRN7654321"


def transaction_time(day) -> str:
    return f"{day.isoformat()}T23:59:59Z"


def export_first_day(server: DemoApiServer, landing, warehouse: Warehouse) -> str:
    server.as_of = DAYS[0]
    fetch_fhir_bulk(fhir_config(server), landing, DAYS[0], warehouse)
    mark = get_watermark(warehouse, "ehr", "procedures")
    assert mark == transaction_time(DAYS[0])
    return mark


def watermarks(warehouse: Warehouse) -> list[str | None]:
    return [get_watermark(warehouse, "ehr", feed) for feed in FEEDS]


def outcome(severity: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{
        "severity": severity, "code": "exception",
        "diagnostics": f"Procedure for Patient/{PHI} could not be serialised"}]}


def test_exports_day_after_day_land_the_demo_files_byte_for_byte(api_server, api_source, api_landing,
                                                                 api_warehouse):
    api_server.export_file_lines = 7  # several NDJSON files per type, concatenated on landing
    for day in DAYS:
        api_server.as_of = day
        stats = fetch_fhir_bulk(fhir_config(api_server), api_landing, day, api_warehouse)
        assert [s.feed for s in stats] == list(FEEDS)
        for kind, one in zip(TYPES, stats, strict=True):
            assert one.outcome == "success" and one.files == [landing_path(kind, day)]
            assert same_as_demo(api_source, api_landing, landing_path(kind, day))
        assert watermarks(api_warehouse) == [transaction_time(day)] * 2
    kick_offs = [c.query for c in api_server.calls if c.path == "/fhir/$export"]
    assert "_since" not in kick_offs[0]
    for query, previous in zip(kick_offs[1:], DAYS, strict=False):
        assert f"_since={transaction_time(previous)}" in query.replace("%3A", ":")
        assert "_type=Procedure%2CMedicationAdministration" in query or \
            "_type=Procedure,MedicationAdministration" in query
    downloads = [c for c in api_server.calls if c.path.startswith("/fhir/files/")]
    assert len(downloads) > 2 * len(DAYS)  # more than one file per type and day
    with api_warehouse.writer() as con:
        runs = con.execute("SELECT feed, outcome FROM ops.channel_runs").fetchall()
    assert sorted(runs) == sorted([(f, "success") for f in FEEDS] * len(DAYS))


def test_polling_waits_for_retry_after(api_server, api_source, api_landing, api_warehouse, caplog):
    api_server.export_polls = 2
    api_server.export_retry_after_s = 1
    api_server.as_of = DAYS[0]
    with caplog.at_level(logging.INFO):
        fetch_fhir_bulk(fhir_config(api_server), api_landing, DAYS[0], api_warehouse)
    polls = [c for c in api_server.calls if c.path.startswith("/fhir/jobs/")]
    assert [c.status for c in polls] == [202, 202, 200]
    assert all(b.at - a.at >= 0.95 for a, b in zip(polls, polls[1:], strict=False))
    assert "in progress (1 of 2)" in caplog.text
    assert same_as_demo(api_source, api_landing, landing_path("Procedure", DAYS[0]))


def test_token_expiry_and_5xx_during_the_export_are_ridden_out(api_server, api_source, api_landing,
                                                               api_warehouse):
    api_server.export_file_lines = 10
    api_server.faults.expire_tokens_after_calls = 3
    api_server.faults.error_calls = {2, 6}  # a status poll and a download
    api_server.as_of = DAYS[0]
    stats = fetch_fhir_bulk(fhir_config(api_server), api_landing, DAYS[0], api_warehouse)
    for kind in TYPES:
        assert same_as_demo(api_source, api_landing, landing_path(kind, DAYS[0]))
    statuses = [c.status for c in api_server.calls if c.number is not None]
    assert statuses.count(401) >= 1 and statuses.count(500) == 2
    assert api_server.token_requests == statuses.count(401) + 1
    assert stats[0].retries == statuses.count(401) + 2


def test_an_export_that_never_completes_is_cancelled(api_server, api_landing, api_warehouse):
    mark = export_first_day(api_server, api_landing, api_warehouse)
    before = files_under(api_landing)
    api_server.faults.export_never_completes = True
    api_server.as_of = DAYS[1]
    config = fhir_config(api_server, poll_max_s=0.3, poll_min_s=0.05)
    with pytest.raises(ChannelError, match=r"not complete after .* the export was cancelled"):
        fetch_fhir_bulk(config, api_landing, DAYS[1], api_warehouse)
    deletes = [c for c in api_server.calls if c.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].status == 202 and len(api_server.cancelled_jobs) == 1
    assert deletes[0].path == f"/fhir/jobs/{api_server.cancelled_jobs[0]}"
    assert files_under(api_landing) == before
    assert watermarks(api_warehouse) == [mark, mark]
    with api_warehouse.writer() as con:
        failed = con.execute("SELECT feed FROM ops.channel_runs WHERE outcome = 'failed'").fetchall()
    assert sorted(failed) == sorted((f,) for f in FEEDS)


def test_error_entries_fail_the_export_without_naming_the_patient(api_server, api_landing,
                                                                   api_warehouse, caplog):
    mark = export_first_day(api_server, api_landing, api_warehouse)
    before = files_under(api_landing)
    api_server.faults.export_errors = [outcome("error"), outcome("warning")]
    api_server.as_of = DAYS[1]
    with caplog.at_level(logging.DEBUG), pytest.raises(ChannelError) as failure:
        fetch_fhir_bulk(fhir_config(api_server), api_landing, DAYS[1], api_warehouse)
    message = str(failure.value)
    assert "could not export" in message and "error/exception x1" in message
    assert "warning/exception x1" in message and "nothing landed" in message
    assert PHI not in message and PHI not in caplog.text
    assert files_under(api_landing) == before
    assert watermarks(api_warehouse) == [mark, mark]


def test_error_entries_can_be_landed_knowingly(api_server, api_source, api_landing, api_warehouse):
    api_server.faults.export_errors = [outcome("error")]
    api_server.as_of = DAYS[0]
    config = fhir_config(api_server, fail_on_export_errors=False)
    stats = fetch_fhir_bulk(config, api_landing, DAYS[0], api_warehouse)
    assert all(s.outcome == "success" and "error/exception x1" in s.errors[0] for s in stats)
    assert PHI not in str([s.errors for s in stats])
    for kind in TYPES:
        assert same_as_demo(api_source, api_landing, landing_path(kind, DAYS[0]))
    assert watermarks(api_warehouse) == [transaction_time(DAYS[0])] * 2


def test_warning_issues_alone_do_not_fail(api_server, api_source, api_landing, api_warehouse):
    api_server.faults.export_errors = [outcome("warning")]
    api_server.as_of = DAYS[0]
    stats = fetch_fhir_bulk(fhir_config(api_server), api_landing, DAYS[0], api_warehouse)
    assert all(s.outcome == "success" and not s.errors for s in stats)


def test_a_broken_file_lands_no_type_at_all(api_server, api_landing, api_warehouse):
    """The Procedure files download fine, a MedicationAdministration file is cut off: neither lands."""
    mark = export_first_day(api_server, api_landing, api_warehouse)
    before = files_under(api_landing)
    api_server.export_file_lines = 10
    api_server.faults.garbled_export_type = "MedicationAdministration"
    api_server.as_of = DAYS[1]
    with pytest.raises(ChannelError, match=r"MedicationAdministration.* is not valid JSON; nothing landed"):
        fetch_fhir_bulk(fhir_config(api_server), api_landing, DAYS[1], api_warehouse)
    procedures = [c for c in api_server.calls if "/Procedure_" in c.path and c.status == 200]
    assert len(procedures) >= 2  # they were fetched, and still did not land
    assert files_under(api_landing) == before
    assert watermarks(api_warehouse) == [mark, mark]


def test_encounters_are_exported_when_configured(api_server, api_source, api_landing, api_warehouse):
    api_server.as_of = DAYS[0]
    config = fhir_config(api_server, types=[*TYPES, "Encounter"])
    assert "system/Encounter.read" in (config.credentials.scope or "")
    stats = fetch_fhir_bulk(config, api_landing, DAYS[0], api_warehouse)
    assert [s.feed for s in stats] == [*FEEDS, "encounters"]
    assert (api_landing / landing_path("Encounter", DAYS[0])).read_bytes() == b""  # none in the demo
    assert (api_landing / (landing_path("Encounter", DAYS[0]) + ".ctl")).is_file()
    assert same_as_demo(api_source, api_landing, landing_path("Procedure", DAYS[0]))


def test_a_day_already_landed_is_not_exported_again(api_server, api_landing, api_warehouse):
    export_first_day(api_server, api_landing, api_warehouse)
    calls = len(api_server.calls)
    stats = fetch_fhir_bulk(fhir_config(api_server), api_landing, DAYS[0], api_warehouse)
    assert [s.outcome for s in stats] == ["nothing_new"] * 2 and len(api_server.calls) == calls


def test_the_demo_server_follows_the_kick_off_and_download_rules(api_server):
    """Files need the bearer token; a kick-off without `Prefer: respond-async` is refused."""
    api_server.as_of = DAYS[0]
    kick = requests.get(f"{api_server.fhir_base_url}/$export", timeout=5,
                        headers={"Accept": "application/fhir+json"})
    assert kick.status_code == 401  # no token at all
    token = requests.post(f"{api_server.fhir_base_url}/token", timeout=5,
                          data={"grant_type": "client_credentials"},
                          auth=(CLIENT_ID, ENV[SECRET_ENV])).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    assert requests.get(f"{api_server.fhir_base_url}/$export", headers=bearer, timeout=5).status_code == 400
    kick = requests.get(f"{api_server.fhir_base_url}/$export", timeout=5,
                        headers={**bearer, "Prefer": "respond-async"})
    assert kick.status_code == 202
    status = kick.headers["Content-Location"]
    while (answer := requests.get(status, headers=bearer, timeout=5)).status_code == 202:
        assert answer.headers["X-Progress"] and answer.headers["Retry-After"] == "0"
    manifest = answer.json()
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    url = manifest["output"][0]["url"]
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers=bearer, timeout=5).status_code == 200
    assert requests.delete(status, headers=bearer, timeout=5).status_code == 202
    assert requests.get(status, headers=bearer, timeout=5).status_code == 404


def test_configuration(tmp_path):
    base = {"client_id": CLIENT_ID, "client_secret_env": SECRET_ENV}
    config = FhirBulkConfig.from_options({"base_url": "https://ehr.example.org/fhir/r4", **base}, {}, ENV)
    assert config.types == TYPES
    assert config.credentials.token_url == "https://ehr.example.org/fhir/r4/token"
    with pytest.raises(ConfigError, match="types must list"):
        FhirBulkConfig.from_options({"base_url": "https://ehr.example.org", "types": ["Patient"],
                                     **base}, {}, ENV)
    with pytest.raises(ConfigError, match="cannot come from a FHIR"):
        FhirBulkConfig.from_options({"base_url": "https://ehr.example.org", **base},
                                    {"charges": {}}, ENV)
    with pytest.raises(ConfigError, match="not a FHIR instant"):
        FhirBulkConfig.from_options({"base_url": "https://ehr.example.org", "initial_since": "soon",
                                     **base}, {}, ENV)
