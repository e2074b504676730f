"""REST API channel (F9, F14) against the demo's API server on loopback: nightly pulls that land the
demo's own files, and every fault of issue #4 (token expiry, 429, 5xx, timeouts, endless and
malformed pages) with the landing directory holding the whole correct file or nothing of it."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from reconcile.channels.base import ChannelError
from reconcile.channels.http import parse_retry_after, redact_url
from reconcile.channels.rest_api import RestApiConfig, dumps_compact, fetch_rest_api, loads_exact
from reconcile.channels.state import get_watermark, set_watermark
from reconcile.config import ConfigError, settings_from_mapping
from reconcile.demo.api_server import DemoApiServer
from reconcile.feeds import FEEDS
from reconcile.secrets import SecretError
from reconcile.warehouse import Warehouse
from tests.channels import api_fixtures as fx
from tests.channels.api_fixtures import (
    CLIENT_ID,
    DAYS,
    ENV,
    SECRET,
    SECRET_ENV,
    files_under,
    rest_config,
    same_as_demo,
)

# the fixtures this module uses (by name)
api_source, api_server, api_landing = fx.api_source, fx.api_server, fx.api_landing
api_warehouse, _empty_warehouse = fx.api_warehouse, fx._empty_warehouse

GL = "gl_journal_lines"
TC = "timecards"


def newest_updated_at(path: Path) -> str | None:
    stamps = [json.loads(line)["updated_at"] for line in path.read_text().splitlines()]
    return max(stamps, default=None)


def channel_runs(warehouse: Warehouse) -> list[tuple]:
    with warehouse.writer() as con:
        return con.execute("SELECT feed, extract_date, outcome, rows_fetched, retries, errors, "
                           "last_error FROM ops.channel_runs ORDER BY started_at").fetchall()


def pull_first_day(config: RestApiConfig, server: DemoApiServer, landing: Path,
                   warehouse: Warehouse, feed: str = GL) -> str:
    """Pull DAYS[0] cleanly; returns the watermark it left."""
    server.as_of = DAYS[0]
    fetch_rest_api(config, landing, feed, DAYS[0], warehouse)
    mark = get_watermark(warehouse, config.name, feed)
    assert mark is not None
    return mark


def resume_before(warehouse: Warehouse, source: Path, day: dt.date, feed: str = GL) -> None:
    """Store the watermark a pull of the day before `day` would have left."""
    mark = newest_updated_at(source / FEEDS[feed].path_for(day - dt.timedelta(days=1)))
    assert mark is not None
    set_watermark(warehouse, "erp", feed, mark)


def assert_nothing_landed_for(landing: Path, before: dict[str, bytes]) -> None:
    """The faulted pull left the landing directory exactly as it was (no data, ctl or temp file)."""
    assert files_under(landing) == before


# -- nightly pulls land the demo's own files ---------------------------------------------------------
@pytest.mark.parametrize("feed", [GL, TC])
def test_pulling_day_after_day_lands_the_demo_files_byte_for_byte(
        feed, api_server, api_source, api_landing, api_warehouse):
    config = rest_config(api_server)
    marks = []
    marked_at = None
    for day in DAYS:
        api_server.as_of = day
        stats = fetch_rest_api(config, api_landing, feed, day, api_warehouse)
        relative = FEEDS[feed].path_for(day)
        assert stats.files == [relative]
        assert same_as_demo(api_source, api_landing, relative)
        expected = newest_updated_at(api_source / relative)
        marks.append(get_watermark(api_warehouse, "erp", feed))
        if expected is not None:  # the first day has no timecards: the watermark stays unset
            assert marks[-1] == expected
            assert stats.outcome == "success" and stats.rows_fetched > 0
        if marked_at is None and marks[-1] is not None:
            marked_at = len(api_server.calls)
    assert marks == sorted(m for m in marks if m) or marks[0] is None
    assert len(set(m for m in marks if m)) >= 3  # advanced from day to day
    # incremental: once a watermark exists every request carries it
    sent = [c.query for c in api_server.calls if c.number is not None]
    later = [c.query for c in api_server.calls[marked_at:] if c.number is not None]
    assert later and all("updated_since=" in q for q in later)
    assert not any("date_from" in q or "date_to" in q for q in sent)
    runs = channel_runs(api_warehouse)
    assert [r[1] for r in runs] == DAYS and {r[0] for r in runs} == {feed}


def test_a_day_already_landed_is_not_pulled_again(api_server, api_landing, api_warehouse):
    config = rest_config(api_server)
    pull_first_day(config, api_server, api_landing, api_warehouse)
    before, calls = files_under(api_landing), len(api_server.calls)
    api_server.as_of = DAYS[1]  # the source moved on: a second pull would land other items
    stats = fetch_rest_api(config, api_landing, GL, DAYS[0], api_warehouse)
    assert stats.outcome == "nothing_new"
    assert files_under(api_landing) == before and len(api_server.calls) == calls


def test_a_day_with_nothing_new_lands_an_empty_file(api_server, api_landing, api_warehouse):
    config = rest_config(api_server)
    api_server.as_of = DAYS[0]
    stats = fetch_rest_api(config, api_landing, TC, DAYS[0], api_warehouse)  # no cards on day 1
    assert stats.outcome == "nothing_new" and stats.rows_fetched == 0
    data = api_landing / FEEDS[TC].path_for(DAYS[0])
    assert data.read_bytes() == b"" and data.with_name(data.name + ".ctl").is_file()
    assert get_watermark(api_warehouse, "erp", TC) is None


def test_first_pull_bounded_by_initial_since(api_server, api_source, api_landing, api_warehouse):
    """Starting mid-range: `initial_since` skips the history before it."""
    first = newest_updated_at(api_source / FEEDS[GL].path_for(DAYS[1]))
    config = RestApiConfig.from_options(
        {"base_url": api_server.url, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
         "initial_since": first}, {GL: {}}, ENV, name="erp")
    api_server.as_of = DAYS[2]
    fetch_rest_api(config, api_landing, GL, DAYS[2], api_warehouse)
    assert same_as_demo(api_source, api_landing, FEEDS[GL].path_for(DAYS[2]))


# -- faults that the channel rides out: the whole correct file lands ----------------------------------
def test_token_expiry_mid_paging_fetches_a_new_token(api_server, api_source, api_landing,
                                                     api_warehouse):
    api_server.faults.expire_tokens_after_calls = 2
    api_server.as_of = DAYS[2]
    resume_before(api_warehouse, api_source, DAYS[2])
    config = rest_config(api_server, page_limit=5)
    stats = fetch_rest_api(config, api_landing, GL, DAYS[2], api_warehouse)
    assert same_as_demo(api_source, api_landing, FEEDS[GL].path_for(DAYS[2]))
    statuses = [c.status for c in api_server.calls if c.number is not None]
    assert statuses.count(401) >= 2 and statuses[-1] == 200
    assert api_server.token_requests == statuses.count(401) + 1
    assert stats.retries == statuses.count(401)


def test_429_waits_for_retry_after(api_server, api_source, api_landing, api_warehouse):
    api_server.faults.rate_limit_calls = {2}
    api_server.faults.retry_after_s = 1
    api_server.as_of = DAYS[0]
    stats = fetch_rest_api(rest_config(api_server), api_landing, GL, DAYS[0], api_warehouse)
    assert same_as_demo(api_source, api_landing, FEEDS[GL].path_for(DAYS[0]))
    calls = [c for c in api_server.calls if c.number is not None]
    assert calls[1].status == 429 and calls[2].status == 200
    assert calls[2].query == calls[1].query  # the same page asked again ...
    assert calls[2].at - calls[1].at >= 0.95  # ... only after Retry-After
    assert stats.retries == 1
    assert channel_runs(api_warehouse)[-1][4] == 1


def test_500_then_success(api_server, api_source, api_landing, api_warehouse):
    api_server.faults.error_calls = {1, 2, 4}
    api_server.as_of = DAYS[1]
    resume_before(api_warehouse, api_source, DAYS[1])
    stats = fetch_rest_api(rest_config(api_server), api_landing, GL, DAYS[1], api_warehouse)
    assert same_as_demo(api_source, api_landing, FEEDS[GL].path_for(DAYS[1]))
    assert stats.retries == 3 and stats.outcome == "success"


def test_a_timed_out_page_is_asked_again(api_server, api_source, api_landing, api_warehouse):
    api_server.faults.stall_calls = {2: 1.0}
    api_server.as_of = DAYS[0]
    config = rest_config(api_server, timeout_s=0.3)
    stats = fetch_rest_api(config, api_landing, GL, DAYS[0], api_warehouse)
    assert same_as_demo(api_source, api_landing, FEEDS[GL].path_for(DAYS[0]))
    assert stats.retries == 1


# -- faults that fail the pull: nothing of the file lands, the watermark stays -----------------------
def test_a_page_chain_that_never_ends_is_bounded_in_time(api_server, api_landing, api_warehouse):
    config = rest_config(api_server, max_total_s=1.0)
    mark = pull_first_day(config, api_server, api_landing, api_warehouse)
    before = files_under(api_landing)
    api_server.faults.endless_pages = True
    api_server.as_of = DAYS[1]
    with pytest.raises(ChannelError, match="bounded total time of 1 s"):
        fetch_rest_api(config, api_landing, GL, DAYS[1], api_warehouse)
    assert len([c for c in api_server.calls if c.number is not None]) > 10  # it did page on
    assert_nothing_landed_for(api_landing, before)
    assert get_watermark(api_warehouse, "erp", GL) == mark
    feed, day, outcome, rows, _retries, errors, last_error = channel_runs(api_warehouse)[-1]
    assert (feed, day, outcome, errors) == (GL, DAYS[1], "failed", 1)
    assert "bounded total time" in last_error


def test_a_page_chain_that_never_ends_is_bounded_in_pages(api_server, api_landing, api_warehouse):
    api_server.faults.endless_pages = True
    api_server.as_of = DAYS[1]
    with pytest.raises(ChannelError, match="max_pages = 20"):
        fetch_rest_api(rest_config(api_server, max_pages=20), api_landing, GL, DAYS[1],
                       api_warehouse)
    assert files_under(api_landing) == {}
    assert get_watermark(api_warehouse, "erp", GL) is None


def test_a_malformed_page_fails_clearly_and_lands_nothing(api_server, api_landing, api_warehouse,
                                                          caplog):
    config = rest_config(api_server)
    mark = pull_first_day(config, api_server, api_landing, api_warehouse)
    before = files_under(api_landing)
    api_server.faults.malformed_page = 2
    api_server.as_of = DAYS[2]
    with caplog.at_level(logging.DEBUG), pytest.raises(ChannelError) as failure:
        fetch_rest_api(config, api_landing, GL, DAYS[2], api_warehouse)
    message = str(failure.value)
    assert "gl_journal_lines" in message and "page 2 of GET" in message
    assert f"{api_server.url}/api/v1/gl/journal-lines?limit=7&updated_since=" in message
    assert "not valid JSON" in message and "nothing landed" in message
    assert SECRET not in message and SECRET not in caplog.text
    assert_nothing_landed_for(api_landing, before)
    assert get_watermark(api_warehouse, "erp", GL) == mark
    # the next night, with the source answering properly again, catches up from the same point
    api_server.faults.malformed_page = None
    fetch_rest_api(config, api_landing, GL, DAYS[2], api_warehouse)
    landed = (api_landing / FEEDS[GL].path_for(DAYS[2])).read_text().splitlines()
    assert len(landed) == sum(len((api_server.landing_root / FEEDS[GL].path_for(d)).read_text()
                                  .splitlines()) for d in DAYS[1:3])


def test_persistent_5xx_gives_up_after_max_retries(api_server, api_landing, api_warehouse):
    api_server.faults.error_calls = set(range(1, 50))
    api_server.as_of = DAYS[0]
    with pytest.raises(ChannelError, match=r"answered HTTP 500.*gave up after 4 retries"):
        fetch_rest_api(rest_config(api_server), api_landing, GL, DAYS[0], api_warehouse)
    assert len(api_server.calls) == 1 + 5  # one token, five tries
    assert files_under(api_landing) == {}


def test_a_wrong_client_secret_is_refused_without_showing_it(api_server, api_landing, api_warehouse,
                                                              caplog):
    config = RestApiConfig.from_options(
        {"base_url": api_server.url, "client_id": CLIENT_ID, "client_secret_env": "OTHER"},
        {}, {"OTHER": "not-the-secret"}, name="erp")
    with caplog.at_level(logging.DEBUG), pytest.raises(ChannelError) as failure:
        fetch_rest_api(config, api_landing, GL, DAYS[0], api_warehouse)
    assert "token request" in str(failure.value) and "401" in str(failure.value)
    assert "invalid_client" in str(failure.value)
    assert "not-the-secret" not in str(failure.value) + caplog.text
    assert files_under(api_landing) == {}


# -- TLS and configuration ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chartledger demo")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


def test_tls_is_checked_against_the_configured_ca_bundle(tls_pair, api_source, api_landing,
                                                          api_warehouse):
    cert, key = tls_pair
    with DemoApiServer(api_source, client_id=CLIENT_ID, client_secret=SECRET, as_of=DAYS[0],
                       ssl_certfile=cert, ssl_keyfile=key) as server:
        assert server.url.startswith("https://127.0.0.1:")
        with pytest.raises(ChannelError, match="connection failed"):  # not trusted by default
            fetch_rest_api(rest_config(server, max_retries=0), api_landing, GL, DAYS[0],
                           api_warehouse)
        assert files_under(api_landing) == {}
        fetch_rest_api(rest_config(server, ca_bundle=str(cert)), api_landing, GL, DAYS[0],
                       api_warehouse)
    assert same_as_demo(api_source, api_landing, FEEDS[GL].path_for(DAYS[0]))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_switching_tls_checks_off_needs_the_explicit_flag_and_warns_every_run(
        tls_pair, api_source, api_landing, api_warehouse, caplog):
    cert, key = tls_pair
    base = {"client_id": CLIENT_ID, "client_secret_env": SECRET_ENV}
    with pytest.raises(ConfigError, match="verify = false is refused"):
        RestApiConfig.from_options({"base_url": "https://erp.example.org", "verify": False, **base},
                                   {}, ENV)
    with DemoApiServer(api_source, client_id=CLIENT_ID, client_secret=SECRET, as_of=DAYS[0],
                       ssl_certfile=cert, ssl_keyfile=key) as server:
        config = rest_config(server, verify=False, insecure_skip_tls_verify=True)
        with caplog.at_level(logging.WARNING):
            fetch_rest_api(config, api_landing, GL, DAYS[0], api_warehouse)
            fetch_rest_api(config, api_landing, GL, DAYS[1], api_warehouse)
    assert sum("TLS certificate checking is OFF" in r.getMessage() for r in caplog.records) == 2


def test_configuration_refuses_unsafe_or_unknown_settings(tmp_path):
    base = {"client_id": CLIENT_ID, "client_secret_env": SECRET_ENV}
    with pytest.raises(SecretError, match="client_secret must not hold a secret"):
        RestApiConfig.from_options({"base_url": "https://erp.example.org", "client_secret": "x",
                                    "client_id": CLIENT_ID}, {}, ENV)
    with pytest.raises(ConfigError, match="plain http to another machine"):
        RestApiConfig.from_options({"base_url": "http://erp.example.org", **base}, {}, ENV)
    with pytest.raises(ConfigError, match="unknown option"):
        RestApiConfig.from_options({"base_url": "https://erp.example.org", "page_size": 5, **base},
                                   {}, ENV)
    with pytest.raises(ConfigError, match="cannot come from a REST API"):
        RestApiConfig.from_options({"base_url": "https://erp.example.org", **base},
                                   {"charges": {}}, ENV)
    with pytest.raises(SecretError, match=f"environment variable {SECRET_ENV} is not set"):
        RestApiConfig.from_options({"base_url": "https://erp.example.org", **base}, {}, {})
    config = RestApiConfig.from_options(
        {"base_url": "https://erp.example.org/", **base},
        {GL: {"path": "/v2/journal", "initial_date_from": "2026-09-01"}}, ENV)
    assert config.credentials.token_url == "https://erp.example.org/oauth/token"
    assert config.feed(GL).path == "/v2/journal" and config.feed(TC).path == "/api/v1/timecards"
    assert SECRET not in repr(config)


def test_client_secret_from_a_file_warns_when_others_can_read_it(tmp_path, caplog):
    secret_file = tmp_path / "erp.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o644)
    options = {"base_url": "https://erp.example.org", "client_id": CLIENT_ID,
               "client_secret_file": str(secret_file)}
    with caplog.at_level(logging.WARNING):
        config = RestApiConfig.from_options(options, {}, {})
    assert config.credentials.client_secret == SECRET
    assert "chmod 600" in caplog.text and SECRET not in caplog.text


def test_from_settings_collects_the_feeds_of_the_channel(tmp_path):
    settings = settings_from_mapping({
        "chartledger": {"landing_root": "landing", "warehouse": "w.duckdb"},
        "channels": {"erp": {"type": "rest_api", "base_url": "https://erp.example.org",
                             "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV}},
        "feeds": {GL: {"channel": "erp", "page_limit": 250}},
    }, base=tmp_path)
    config = RestApiConfig.from_settings(settings, "erp", ENV)
    assert config.name == "erp" and config.feed(GL).page_limit == 250


def test_watermark_only_moves_forward(api_server, api_source, api_landing, api_warehouse):
    """A pull that lands only items older than the stored watermark leaves it where it was."""
    set_watermark(api_warehouse, "erp", GL, "2026-01-01T00:00:00")
    later = "2099-01-01T00:00:00"
    api_server.as_of = DAYS[0]
    fetch_rest_api(rest_config(api_server), api_landing, GL, DAYS[0], api_warehouse)
    assert get_watermark(api_warehouse, "erp", GL) == newest_updated_at(
        api_source / FEEDS[GL].path_for(DAYS[0]))
    set_watermark(api_warehouse, "erp", GL, later)
    fetch_rest_api(rest_config(api_server), api_landing, GL, DAYS[1], api_warehouse)
    assert get_watermark(api_warehouse, "erp", GL) == later


# -- helpers ----------------------------------------------------------------------------------------
def test_items_are_written_back_with_their_numbers_exactly():
    text = ('{"hours":8.0,"rate":"51.25","n":3,"big":12345678901234567890.123456789,"x":null,'
            '"ok":true,"s":"é/\\""}')
    assert dumps_compact(loads_exact(text)) == text
    with pytest.raises(ValueError):
        loads_exact('{"hours": NaN}')


def test_retry_after_and_redaction():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert redact_url("https://u:p@files.example.org/a.ndjson?X-Amz-Signature=abc&part=2") == \
        "https://files.example.org/a.ndjson?X-Amz-Signature=REDACTED&part=2"
