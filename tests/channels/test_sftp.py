"""SFTP channel against real servers on loopback: the demo's asyncssh server and OpenSSH's sshd."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

import asyncssh
import pytest

from reconcile.channels.base import ChannelError, UnsafePathError
from reconcile.channels.sftp import (
    HostKeyError,
    check_remote_name,
    fetch_sftp,
    list_ready,
)
from reconcile.config import ConfigError
from reconcile.landing import discover
from reconcile.warehouse import Warehouse
from tests.landing_kit import hl7_message, write_control, write_feed_file

DAY = dt.date(2026, 10, 1)
ADT_NORTH = "ehr/adt/ADT_NORTH_20261001.hl7"
ADT_SOUTH = "ehr/adt/ADT_SOUTH_20261001.hl7"


def adt(visit: str, facility: str = "NORTH") -> str:
    return hl7_message(
        f"MSH|^~\\&|EHR|{facility}|CHARTLEDGER|{facility}|202610010815||ADT^A01|{visit}|P|2.5.1",
        "EVN|A01|202610010815", f"PV1|1|I|MED^101^A^{facility}")


@pytest.fixture()
def warehouse(tmp_path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.ensure_schema()
    return warehouse


@pytest.fixture()
def landing(tmp_path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


def landed_tree(root: Path) -> dict[str, bytes]:
    """Every file under root (hidden temporary ones included) with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def remote_pair(served: Path, relative: str) -> dict[str, bytes]:
    return {relative: (served / relative).read_bytes(),
            relative + ".ctl": (served / (relative + ".ctl")).read_bytes()}


def channel_runs(warehouse: Warehouse) -> list[tuple]:
    with warehouse.writer() as con:
        return con.execute("SELECT channel, feed, outcome, files_fetched, retries, errors, last_error "
                           "FROM ops.channel_runs ORDER BY started_at, feed").fetchall()


def fetches(warehouse: Warehouse) -> list[tuple]:
    with warehouse.writer() as con:
        return con.execute("SELECT remote_path, sha256, feed, facility, extract_date, landing_path, "
                           "archived_to FROM ops.channel_fetches ORDER BY remote_path, fetched_at"
                           ).fetchall()


# -- listing, completeness, the manifest ---------------------------------------------------------

def test_fetches_complete_files_matching_the_feed_patterns(sftp_site, landing, warehouse):
    served = sftp_site.served
    write_feed_file(served, ADT_NORTH, adt("V1") + adt("V2"))
    write_feed_file(served, ADT_SOUTH, adt("V3", "SOUTH"))
    write_feed_file(served, "ehr/adt/ADT_NORTH_20261002.hl7", adt("V4"))  # another extract date
    write_feed_file(served, "ehr/charges/DFT_NORTH_20261001.hl7", adt("V5"), control=False)
    write_feed_file(served, "ehr/adt/notes.txt", "not a feed file", rows=1)
    write_feed_file(served, "ehr/adt/ADT_north_20261001.hl7", adt("V6"))  # facility must be upper case
    config = sftp_site.config()

    ready = list_ready(config, ["adt", "charges"], warehouse, DAY)
    assert [(r.feed, r.facility, r.extract_date, r.landing_path, r.rows) for r in ready] == [
        ("adt", "NORTH", DAY, ADT_NORTH, 2), ("adt", "SOUTH", DAY, ADT_SOUTH, 1)]

    stats = fetch_sftp(config, landing, ["adt", "charges"], warehouse, DAY)

    assert landed_tree(landing) == {**remote_pair(served, ADT_NORTH), **remote_pair(served, ADT_SOUTH)}
    assert [(s.feed, s.outcome, s.files_fetched, s.rows_fetched) for s in stats] == [
        ("adt", "success", 2, 3), ("charges", "nothing_new", 0, 0)]
    assert all(f.complete and f.control.sha256 == f.sha256 for f in discover(landing, DAY))
    assert [(r[0], r[1], r[2], r[3]) for r in channel_runs(warehouse)] == [
        ("sftp", "adt", "success", 2), ("sftp", "charges", "nothing_new", 0)]
    assert [(Path(r[0]).name, r[2], r[3], r[4], r[5]) for r in fetches(warehouse)] == [
        ("ADT_NORTH_20261001.hl7", "adt", "NORTH", DAY, ADT_NORTH),
        ("ADT_SOUTH_20261001.hl7", "adt", "SOUTH", DAY, ADT_SOUTH)]
    assert list_ready(config, ["adt"], warehouse, DAY) == []
    later = list_ready(config, ["adt"], warehouse)
    assert [(r.landing_path, r.extract_date) for r in later] == [
        ("ehr/adt/ADT_NORTH_20261002.hl7", dt.date(2026, 10, 2))]


def test_a_file_without_its_control_file_waits(sftp_site, landing, warehouse):
    served = sftp_site.served
    data = write_feed_file(served, ADT_NORTH, adt("V1"), control=False)
    config = sftp_site.config()

    first = fetch_sftp(config, landing, ["adt"], warehouse, DAY)
    assert first[0].outcome == "nothing_new"
    assert landed_tree(landing) == {}

    write_control(data, rows=1)
    second = fetch_sftp(config, landing, ["adt"], warehouse, DAY)
    assert (second[0].outcome, second[0].files) == ("success", [ADT_NORTH])
    assert landed_tree(landing) == remote_pair(served, ADT_NORTH)


def test_the_same_file_is_never_fetched_twice_but_a_redelivery_is(sftp_site, landing, warehouse):
    served = sftp_site.served
    write_feed_file(served, ADT_NORTH, adt("V1"))
    config = sftp_site.config()
    assert fetch_sftp(config, landing, ["adt"], warehouse, DAY)[0].files_fetched == 1
    (landing / ADT_NORTH).write_bytes(b"changed locally")  # a second fetch would overwrite this

    again = fetch_sftp(config, landing, ["adt"], warehouse, DAY)
    assert (again[0].outcome, again[0].files_fetched) == ("nothing_new", 0)
    assert (landing / ADT_NORTH).read_bytes() == b"changed locally"

    write_feed_file(served, ADT_NORTH, adt("V1") + adt("V2"))  # re-delivery: new checksum
    redelivered = fetch_sftp(config, landing, ["adt"], warehouse, DAY)
    assert (redelivered[0].outcome, redelivered[0].rows_fetched) == ("success", 2)
    assert landed_tree(landing) == remote_pair(served, ADT_NORTH)
    assert len({sha for _path, sha, *_ in fetches(warehouse)}) == 2
    assert fetch_sftp(config, landing, ["adt"], warehouse, DAY)[0].outcome == "nothing_new"


def test_archive_moves_fetched_files_on_the_server(sftp_site, landing, warehouse):
    served = sftp_site.served
    write_feed_file(served, ADT_NORTH, adt("V1"))
    pair = remote_pair(served, ADT_NORTH)
    config = sftp_site.config(archive_dir="archive")

    stats = fetch_sftp(config, landing, ["adt"], warehouse, DAY)

    assert stats[0].outcome == "success" and not stats[0].errors
    assert landed_tree(landing) == pair
    assert not (served / ADT_NORTH).exists() and not (served / (ADT_NORTH + ".ctl")).exists()
    assert landed_tree(served / "archive") == pair
    archived_to = fetches(warehouse)[0][6]
    assert archived_to.endswith("archive/" + ADT_NORTH)
    assert fetch_sftp(config, landing, ["adt"], warehouse, DAY)[0].outcome == "nothing_new"


def test_a_feed_location_overrides_the_remote_folder(sftp_site, landing, warehouse):
    served = sftp_site.served
    write_feed_file(served, "outbound/hl7/ADT_NORTH_20261001.hl7", adt("V1"))
    write_feed_file(served, "rev/DFT-NORTH-20261001.txt", adt("V2"), rows=1)
    config = sftp_site.config(locations={"adt": "outbound/hl7",
                                         "charges": "rev/DFT-<facility>-<YYYYMMDD>.txt"})

    stats = fetch_sftp(config, landing, ["adt", "charges"], warehouse, DAY)

    assert [s.files for s in stats] == [[ADT_NORTH], ["ehr/charges/DFT_NORTH_20261001.hl7"]]
    assert (landing / ADT_NORTH).read_bytes() == (served / "outbound/hl7/ADT_NORTH_20261001.hl7").read_bytes()
    # the landed name differs from the remote one: its control file names the landed file
    control = json.loads((landing / "ehr/charges/DFT_NORTH_20261001.hl7.ctl").read_text())
    assert control["file"] == "DFT_NORTH_20261001.hl7"
    assert all(f.complete and f.control is not None for f in discover(landing, DAY))


# -- faults: every one leaves the whole correct file or nothing ----------------------------------

def test_checksum_mismatch_lands_nothing_and_names_feed_and_file(sftp_site, landing, warehouse):
    served = sftp_site.served
    data = write_feed_file(served, ADT_NORTH, adt("V1"))
    write_feed_file(served, ADT_SOUTH, adt("V2", "SOUTH"))
    write_control(data, rows=1, sha256="0" * 64)
    config = sftp_site.config()

    with pytest.raises(ChannelError, match=r"feed adt: .*ADT_NORTH_20261001\.hl7: sha256 .* does not "
                                           r"match its control file"):
        fetch_sftp(config, landing, ["adt"], warehouse, DAY)

    assert landed_tree(landing) == remote_pair(served, ADT_SOUTH)  # the good file still landed
    run = channel_runs(warehouse)[0]
    assert run[2] == "failed" and "ADT_NORTH_20261001.hl7" in run[6]
    assert [Path(r[0]).name for r in fetches(warehouse)] == ["ADT_SOUTH_20261001.hl7"]


def test_resumes_after_a_dropped_connection(demo_sftp_site, landing, warehouse):
    served = demo_sftp_site.served
    content = "".join(adt(f"V{i:05d}") for i in range(7000))
    assert len(content) > 600_000  # more than two read requests of the client
    write_feed_file(served, ADT_NORTH, content)
    faults = demo_sftp_site.faults
    faults.drop_after_bytes, faults.drop_suffix = 300_000, ".hl7"

    stats = fetch_sftp(demo_sftp_site.config(), landing, ["adt"], warehouse, DAY)

    assert faults.drops_done == 1
    assert (stats[0].outcome, stats[0].retries, stats[0].rows_fetched) == ("success", 1, 7000)
    assert landed_tree(landing) == remote_pair(served, ADT_NORTH)
    offsets = [offset for path, offset in faults.first_reads if path.endswith(".hl7")]
    assert offsets[0] == 0 and offsets[1] > 0  # the second connection went on where the first stopped
    assert channel_runs(warehouse)[0][4] == 1


def test_gives_up_after_the_configured_retries_and_lands_nothing(demo_sftp_site, landing, warehouse):
    write_feed_file(demo_sftp_site.served, ADT_NORTH, "".join(adt(f"V{i:05d}") for i in range(2000)))
    faults = demo_sftp_site.faults
    faults.drop_after_bytes, faults.drop_suffix, faults.drop_times = 50_000, ".hl7", 100

    with pytest.raises(ChannelError, match=r"ADT_NORTH_20261001\.hl7.*gave up after 2 reconnection"):
        fetch_sftp(demo_sftp_site.config(retries=2), landing, ["adt"], warehouse, DAY)

    assert faults.drops_done == 3
    assert landed_tree(landing) == {}
    assert channel_runs(warehouse)[0][2:5] == ("failed", 0, 2)


def test_a_changed_host_key_is_refused(sftp_site, landing, warehouse, tmp_path):
    write_feed_file(sftp_site.served, ADT_NORTH, adt("V1"))
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    known = tmp_path / "changed_known_hosts"
    known.write_text(f"[{sftp_site.host}]:{sftp_site.port} {impostor}", encoding="utf-8")

    with pytest.raises(HostKeyError, match="differs from the one pinned"):
        fetch_sftp(sftp_site.config(known_hosts=str(known)), landing, ["adt"], warehouse, DAY)
    with pytest.raises(HostKeyError, match="not the pinned"):
        fetch_sftp(sftp_site.config(known_hosts=None,
                                    host_key_fingerprint="SHA256:" + "A" * 43), landing, ["adt"],
                   warehouse, DAY)

    assert landed_tree(landing) == {}
    assert [r[2] for r in channel_runs(warehouse)] == ["failed", "failed"]


def test_an_unknown_host_is_refused(sftp_site, landing, warehouse, tmp_path):
    known = tmp_path / "other_known_hosts"
    entry = sftp_site.known_hosts.read_text(encoding="utf-8").split(" ", 1)[1]
    known.write_text(f"[otherhost]:{sftp_site.port} {entry}", encoding="utf-8")

    with pytest.raises(HostKeyError, match="not in the pinned known_hosts file"):
        fetch_sftp(sftp_site.config(known_hosts=str(known)), landing, ["adt"], warehouse, DAY)
    assert landed_tree(landing) == {}


def test_a_pinned_fingerprint_is_accepted(sftp_site, landing, warehouse):
    write_feed_file(sftp_site.served, ADT_NORTH, adt("V1"))
    config = sftp_site.config(known_hosts=None, host_key_fingerprint=sftp_site.fingerprint)
    assert fetch_sftp(config, landing, ["adt"], warehouse, DAY)[0].files == [ADT_NORTH]


# -- remote names can never write outside the landing directory ----------------------------------

@pytest.mark.parametrize("name", ["..", ".", "../ADT_NORTH_20261001.hl7", "/etc/ADT_NORTH_20261001.hl7",
                                  "a/b.hl7", "a\\b.hl7", "x\x00.hl7", ""])
def test_remote_names_with_paths_are_refused(name):
    with pytest.raises(UnsafePathError):
        check_remote_name(name)


def test_plain_remote_names_pass():
    assert check_remote_name("ADT_NORTH_20261001.hl7.ctl") == "ADT_NORTH_20261001.hl7.ctl"


def test_a_crafted_listing_cannot_escape_the_landing_directory(demo_sftp_site, tmp_path, warehouse):
    landing = tmp_path / "deep" / "landing"
    landing.mkdir(parents=True)
    write_feed_file(demo_sftp_site.served, ADT_NORTH, adt("V1"))
    hostile = ["../ADT_SOUTH_20261001.hl7", "../ADT_SOUTH_20261001.hl7.ctl",
               "../../../deep/ADT_CHILD_20261001.hl7", "/tmp/ADT_CHILD_20261001.hl7",
               "/tmp/ADT_CHILD_20261001.hl7.ctl"]
    demo_sftp_site.faults.extra_names = {f"{demo_sftp_site.remote_root}/ehr/adt": hostile}
    before = landed_tree(tmp_path / "deep")

    with pytest.raises(ChannelError, match="would land outside the landing directory"):
        fetch_sftp(demo_sftp_site.config(), landing, ["adt"], warehouse, DAY)

    after = landed_tree(tmp_path / "deep")
    assert {k: v for k, v in after.items() if k not in before} == {
        "landing/" + k: v for k, v in remote_pair(demo_sftp_site.served, ADT_NORTH).items()}
    assert channel_runs(warehouse)[0][5] == len(hostile)


def test_a_symlink_on_the_server_is_not_fetched(sftp_site, landing, warehouse):
    served = sftp_site.served
    secret = sftp_site.served.parent / f"{served.name}_secret.txt"
    secret.write_text("not for the landing directory", encoding="utf-8")
    (served / "ehr/adt").mkdir(parents=True)
    (served / ADT_NORTH).symlink_to(secret)
    write_control(served / ADT_NORTH, rows=0)

    with pytest.raises(ChannelError, match="not a regular file"):
        fetch_sftp(sftp_site.config(), landing, ["adt"], warehouse, DAY)
    assert landed_tree(landing) == {}
    secret.unlink()


def test_a_landing_folder_linked_outside_is_refused(sftp_site, tmp_path, warehouse):
    landing = tmp_path / "landing"
    outside = tmp_path / "outside"
    (landing / "ehr").mkdir(parents=True)
    outside.mkdir()
    (landing / "ehr" / "adt").symlink_to(outside, target_is_directory=True)
    write_feed_file(sftp_site.served, ADT_NORTH, adt("V1"))

    with pytest.raises(ChannelError, match="resolves outside"):
        fetch_sftp(sftp_site.config(), landing, ["adt"], warehouse, DAY)
    assert list(outside.iterdir()) == []


# -- logins and configuration --------------------------------------------------------------------

def test_password_login_from_a_secret_file_warns_when_others_can_read_it(
        demo_sftp_site, landing, warehouse, tmp_path, caplog):
    from tests.channels.conftest import DEMO_PASSWORD

    secret = tmp_path / "sftp_password"
    secret.write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    os.chmod(secret, 0o644)
    write_feed_file(demo_sftp_site.served, ADT_NORTH, adt("V1"))
    with caplog.at_level(logging.WARNING, logger="reconcile.channels.sftp"):
        config = demo_sftp_site.config(private_key_file=None, password_file=str(secret))
    assert "can be read by group or others" in caplog.text
    assert DEMO_PASSWORD not in caplog.text and DEMO_PASSWORD not in repr(config)

    assert fetch_sftp(config, landing, ["adt"], warehouse, DAY)[0].files == [ADT_NORTH]


def test_a_wrong_password_is_refused_without_retrying(demo_sftp_site, landing, warehouse):
    config = demo_sftp_site.config(private_key_file=None, password_env="SFTP_PW",
                                   env={"SFTP_PW": "wrong"})
    with pytest.raises(ChannelError, match="login refused"):
        fetch_sftp(config, landing, ["adt"], warehouse, DAY)
    assert channel_runs(warehouse)[0][2:5] == ("failed", 0, 0)


@pytest.mark.parametrize(("change", "message"), [
    ({"known_hosts": None}, "exactly one of"),
    ({"host_key_fingerprint": "SHA256:" + "A" * 43}, "exactly one of"),
    ({"known_hosts": None, "host_key_fingerprint": "MD5:aa:bb"}, "must look like"),
    ({"password_env": "NOT_SET_ANYWHERE", "private_key_file": None}, "not set"),
    ({"private_key_file": None}, "needs a password"),
    ({"hostname": "typo"}, "unknown SFTP option"),
    ({"retries": "many"}, "is not a number"),
])
def test_configuration_errors_are_clear(demo_sftp_site, change, message):
    with pytest.raises(ConfigError, match=message):
        demo_sftp_site.config(**change)


def test_unknown_feed_is_refused(demo_sftp_site, landing, warehouse):
    with pytest.raises(ConfigError, match="unknown feed"):
        fetch_sftp(demo_sftp_site.config(), landing, ["adt", "nope"], warehouse, DAY)

