"""SFTP channel: fetch complete feed files (data file plus `.ctl`) from a source system's server.

One connection per batch; the server's host key is pinned (known_hosts entry or fingerprint)
and an unknown or changed key is refused. A file is fetched only once its control file is
present, downloaded to a hidden temporary name in the landing folder (resumed after a dropped
connection), checked against the listed size and the control file's sha256, renamed into place
and followed by its control file; the fetch manifest (ops.channel_fetches) keeps the same
remote file version from being fetched twice.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import posixpath
import re
import socket
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import paramiko

from reconcile.channels.base import (
    ChannelError,
    ChannelStats,
    UnsafePathError,
    backoff_delays,
    control_line,
    safe_landing_path,
)
from reconcile.channels.state import record_channel_run
from reconcile.config import ConfigError, Settings
from reconcile.feeds import FEEDS, Feed
from reconcile.landing import CONTROL_SUFFIX, ControlFile, sha256_of
from reconcile.sqlfiles import query_sql_file, run_sql_file
from reconcile.warehouse import Warehouse

log = logging.getLogger(__name__)

CHANNEL_TYPE = "sftp"
TEMP_SUFFIX = ".sftp.part"
CONTROL_MAX_BYTES = 64 * 1024
READ_REQUEST = 255 * 1024  # OpenSSH's largest SFTP read; servers may answer with less
FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")
OPTIONS = {"host", "port", "username", "remote_root", "known_hosts", "host_key_fingerprint",
           "password_env", "password_file", "private_key_file", "passphrase_env",
           "connect_timeout_s", "io_timeout_s", "retries", "backoff_base_s", "backoff_cap_s",
           "archive_dir"}

T = TypeVar("T")


class HostKeyError(ChannelError):
    """The server's host key is unknown or differs from the pinned one: never connect."""


@dataclass(frozen=True)
class SftpChannelConfig:
    """Connection and layout of one `[channels.<name>]` section of type `sftp`.

    `locations` maps a feed to its remote folder, or to a full remote pattern with `<facility>`
    and `<YYYYMMDD>` placeholders; without one the remote tree mirrors the landing layout under
    `remote_root`. Secrets are read from the environment or files named in the options.
    """

    host: str
    username: str
    name: str = CHANNEL_TYPE
    port: int = 22
    remote_root: str = "."
    known_hosts: Path | None = None
    host_key_fingerprint: str | None = None
    password: str | None = field(default=None, repr=False)
    private_key_file: Path | None = None
    passphrase: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 15.0
    io_timeout_s: float = 60.0
    retries: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    archive_dir: str | None = None
    locations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], env: Mapping[str, str], *,
                     name: str = CHANNEL_TYPE, locations: Mapping[str, str] | None = None,
                     base_dir: Path | None = None) -> SftpChannelConfig:
        """Build from a channel section's options; relative file paths resolve against base_dir."""
        opts = {k: v for k, v in options.items() if not (k == "type" and v == CHANNEL_TYPE)}
        unknown = sorted(set(opts) - OPTIONS)
        if unknown:
            raise ConfigError(f"[channels.{name}] unknown SFTP option(s): {', '.join(unknown)}")
        for required in ("host", "username"):
            if not opts.get(required):
                raise ConfigError(f"[channels.{name}] needs {required!r}")
        known_hosts = _path(opts.get("known_hosts"), base_dir)
        fingerprint = opts.get("host_key_fingerprint")
        if (known_hosts is None) == (fingerprint is None):
            raise ConfigError(f"[channels.{name}] pins the server's host key with exactly one of "
                              "'known_hosts' (a file) or 'host_key_fingerprint' (SHA256:...)")
        if fingerprint is not None and not FINGERPRINT.match(str(fingerprint)):
            raise ConfigError(f"[channels.{name}] host_key_fingerprint must look like "
                              "'SHA256:<43 base64 characters>' as ssh-keygen -lf prints it")
        if known_hosts is not None and not known_hosts.is_file():
            raise ConfigError(f"[channels.{name}] known_hosts file {known_hosts} does not exist")
        password = _secret_env(opts, "password_env", env, name)
        password_file = _path(opts.get("password_file"), base_dir)
        if password_file is not None:
            if password is not None:
                raise ConfigError(f"[channels.{name}] give password_env or password_file, not both")
            password = _read_secret_file(password_file, name).rstrip("\r\n")
        key_file = _path(opts.get("private_key_file"), base_dir)
        if key_file is not None:
            if not key_file.is_file():
                raise ConfigError(f"[channels.{name}] private_key_file {key_file} does not exist")
            _warn_if_readable(key_file, name)
        if password is None and key_file is None:
            raise ConfigError(f"[channels.{name}] needs a password (password_env or password_file) "
                              "or a private_key_file")
        retries = _number(opts, "retries", 3, int, name)
        return cls(
            host=str(opts["host"]), username=str(opts["username"]), name=name,
            port=_number(opts, "port", 22, int, name),
            remote_root=str(opts.get("remote_root", ".")) or ".",
            known_hosts=known_hosts, host_key_fingerprint=fingerprint, password=password,
            private_key_file=key_file, passphrase=_secret_env(opts, "passphrase_env", env, name),
            connect_timeout_s=_number(opts, "connect_timeout_s", 15.0, float, name),
            io_timeout_s=_number(opts, "io_timeout_s", 60.0, float, name),
            retries=retries,
            backoff_base_s=_number(opts, "backoff_base_s", 0.5, float, name),
            backoff_cap_s=_number(opts, "backoff_cap_s", 30.0, float, name),
            archive_dir=str(opts["archive_dir"]) if opts.get("archive_dir") else None,
            locations=dict(locations or {}),
        )

    @classmethod
    def from_settings(cls, settings: Settings, channel: str, env: Mapping[str, str],
                      base_dir: Path | None = None) -> SftpChannelConfig:
        """The config of `[channels.<channel>]` with the `location` of every feed that names it."""
        section = settings.channels.get(channel)
        if section is None or section.type != CHANNEL_TYPE:
            raise ConfigError(f"[channels.{channel}] is not an SFTP channel")
        locations = {feed: spec.location for feed, spec in settings.feeds.items()
                     if spec.channel == channel and spec.location}
        return cls.from_options(section.options, env, name=channel, locations=locations,
                                base_dir=base_dir)


@dataclass(frozen=True)
class RemoteFile:
    """A complete data file on the server (its control file is listed beside it)."""

    feed: str
    facility: str | None
    extract_date: dt.date
    remote_path: str
    size: int
    landing_path: str  # relative to the landing root (the feed's file form)

    @property
    def name(self) -> str:
        return posixpath.basename(self.remote_path)

    @property
    def control_path(self) -> str:
        return self.remote_path + CONTROL_SUFFIX


@dataclass(frozen=True)
class ReadyFile:
    """A complete remote file not fetched yet, with what its control file declares."""

    feed: str
    facility: str | None
    extract_date: dt.date
    remote_path: str
    landing_path: str
    size: int
    rows: int
    sha256: str


def check_remote_name(name: str) -> str:
    """Return a listed file name if it is a plain name; refuse separators, `..` and the like."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise UnsafePathError(f"remote name {name!r} would land outside the landing directory")
    return name


def fetch_sftp(config: SftpChannelConfig, landing_root: Path, feeds: Sequence[str],
               warehouse: Warehouse, extract_date: dt.date | None = None, *,
               strict: bool = True) -> list[ChannelStats]:
    """Fetch every complete, not yet fetched file of `feeds` (of one extract date, or all).

    Uses one connection for the batch and records one ops.channel_runs row per feed (the
    warehouse's schema must exist). With `strict`, a feed that failed raises ChannelError after
    everything else was fetched and recorded; otherwise the failures are only in the stats.
    """
    _check_feeds(feeds)
    today = dt.datetime.now(dt.UTC).date()
    all_stats = {feed: ChannelStats(CHANNEL_TYPE, feed, extract_date or today) for feed in feeds}
    session = _Session(config)
    try:
        session.connect(all_stats[feeds[0]] if feeds else None)
        fetched = _fetched_versions(warehouse, config.name)
        for feed in feeds:
            stats = all_stats[feed]
            try:
                _fetch_feed(session, config, landing_root, feed, extract_date, fetched, warehouse,
                            stats)
            except HostKeyError:
                raise
            except (ChannelError, OSError, paramiko.SSHException) as exc:
                stats.errors.append(f"feed {feed}: {exc}"[:1000])
                stats.outcome = "failed"
            failed = stats.outcome == "failed"
            stats.finish("failed" if failed else "success" if stats.files_fetched else "nothing_new")
    except BaseException as exc:
        for stats in all_stats.values():
            if stats.finished_at is None:
                stats.finish("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        session.close()
        for stats in all_stats.values():
            record_channel_run(warehouse, stats)
    failures = [error for stats in all_stats.values() if stats.outcome == "failed"
                for error in stats.errors]
    if strict and failures:
        raise ChannelError(f"sftp {config.name}: " + "; ".join(failures))
    return list(all_stats.values())


def list_ready(config: SftpChannelConfig, feeds: Sequence[str], warehouse: Warehouse,
               extract_date: dt.date | None = None) -> list[ReadyFile]:
    """Complete remote files (data and control file) of `feeds` that were not fetched yet.

    For a sensor: one short connection, nothing downloaded but the small control files, nothing
    written. Unusable names and control files are logged and left out.
    """
    _check_feeds(feeds)
    session = _Session(config)
    ready: list[ReadyFile] = []
    try:
        session.connect(None)
        fetched = _fetched_versions(warehouse, config.name)
        for feed in feeds:
            ready.extend(_ready_of_feed(session, config, feed, extract_date, fetched))
    finally:
        session.close()
    return ready


def _ready_of_feed(session: _Session, config: SftpChannelConfig, feed: str,
                   extract_date: dt.date | None, fetched: set[tuple[str, str]]) -> list[ReadyFile]:
    problems: list[str] = []
    ready: list[ReadyFile] = []
    remotes = session.run(lambda sftp: _list_feed(sftp, config, feed, extract_date, problems),
                          f"listing feed {feed}", None)
    for remote in remotes:
        try:
            control, _raw = session.run(lambda sftp, r=remote: _read_control(sftp, r),
                                        f"reading {remote.control_path}", None)
        except (ChannelError, OSError) as exc:
            if isinstance(exc, HostKeyError):
                raise
            problems.append(f"{remote.remote_path}: {exc}")
            continue
        if (remote.remote_path, control.sha256) not in fetched:
            ready.append(ReadyFile(remote.feed, remote.facility, remote.extract_date,
                                   remote.remote_path, remote.landing_path, remote.size,
                                   control.rows, control.sha256))
    for problem in problems:
        log.warning("sftp %s: feed %s: %s", config.name, feed, problem)
    return ready


# -- one feed -----------------------------------------------------------------------------------

def _fetch_feed(session: _Session, config: SftpChannelConfig, landing_root: Path, feed: str,
                extract_date: dt.date | None, fetched: set[tuple[str, str]], warehouse: Warehouse,
                stats: ChannelStats) -> None:
    problems: list[str] = []
    remotes = session.run(lambda sftp: _list_feed(sftp, config, feed, extract_date, problems),
                          f"listing feed {feed}", stats)
    if extract_date is None and remotes:
        stats.extract_date = max(r.extract_date for r in remotes)
    for remote in remotes:
        try:
            control, raw = session.run(lambda sftp, r=remote: _read_control(sftp, r),
                                       f"reading {remote.control_path}", stats)
            if (remote.remote_path, control.sha256) in fetched:
                log.info("sftp %s: %s already fetched (same checksum)", config.name, remote.remote_path)
                continue
            _download(session, remote, control, raw, landing_root, stats)
        except HostKeyError:
            raise
        except (ChannelError, OSError, paramiko.SSHException) as exc:
            problems.append(f"{remote.remote_path}: {exc}")
            continue
        stats.landed(remote.landing_path, remote.size, control.rows)
        archived = _archive(session, config, remote, stats)
        _record_fetch(warehouse, config.name, remote, control.sha256, archived)
        fetched.add((remote.remote_path, control.sha256))
        log.info("sftp %s: fetched %s to %s (%d bytes, %d records)", config.name,
                 remote.remote_path, remote.landing_path, remote.size, control.rows)
    if problems:
        stats.outcome = "failed"
        stats.errors.extend(f"feed {feed}: {p}"[:1000] for p in problems)


def _list_feed(sftp: paramiko.SFTPClient, config: SftpChannelConfig, feed_name: str,
               extract_date: dt.date | None, problems: list[str]) -> list[RemoteFile]:
    """The complete data files of one feed in its remote folder (control file listed beside);
    what is wrong with the listing is added to `problems` (once, even if the listing is retried)."""
    feed = FEEDS[feed_name]
    wrong: list[str] = []
    folder, pattern = _remote_source(config, feed)
    try:
        entries = sftp.listdir_attr(folder)
    except FileNotFoundError:
        log.info("sftp %s: remote folder %s of feed %s does not exist (nothing delivered)",
                 config.name, folder, feed_name)
        return []
    names: dict[str, paramiko.SFTPAttributes] = {}
    for attrs in entries:
        try:
            names[check_remote_name(attrs.filename)] = attrs
        except UnsafePathError as exc:
            wrong.append(f"refused a listed name in {folder}: {exc}")
    found: list[RemoteFile] = []
    for name in sorted(names):
        match = pattern.regex.match(name)
        if name.endswith(CONTROL_SUFFIX) or not match:
            continue
        try:
            day = dt.datetime.strptime(match.group("date"), "%Y%m%d").date()
        except ValueError:
            continue
        if extract_date is not None and day != extract_date:
            continue
        remote_path = posixpath.join(folder, name)
        if name + CONTROL_SUFFIX not in names:
            log.info("sftp %s: %s has no control file yet (still being written)", config.name,
                     remote_path)
            continue
        mode = names[name].st_mode
        if mode is None or not stat.S_ISREG(mode):
            wrong.append(f"{remote_path} is not a regular file (a link or folder); not fetched")
            continue
        facility = match.group("facility") if feed.per_facility else None
        found.append(RemoteFile(feed_name, facility, day, remote_path, names[name].st_size or 0,
                                feed.path_for(day, facility)))
    problems.extend(wrong)
    return found


def _remote_source(config: SftpChannelConfig, feed: Feed) -> tuple[str, Feed]:
    """The remote folder of a feed and a Feed whose pattern matches its remote file names."""
    location = config.locations.get(feed.name, "").strip()
    if "<YYYYMMDD>" in location:
        folder, base = posixpath.split(location)
    else:
        folder, base = (location or posixpath.dirname(feed.pattern_text)), posixpath.basename(
            feed.pattern_text)
    if feed.per_facility and "<facility>" not in base:
        raise ConfigError(f"feed {feed.name}: remote pattern {base!r} needs <facility>")
    remote_folder = posixpath.normpath(posixpath.join(config.remote_root, folder))
    return remote_folder, dataclasses.replace(feed, pattern_text=base)


def _read_control(sftp: paramiko.SFTPClient, remote: RemoteFile) -> tuple[ControlFile, bytes]:
    """The remote control file, parsed, and its exact bytes."""
    with sftp.open(remote.control_path, "rb") as handle:
        raw = handle.read(CONTROL_MAX_BYTES + 1)
    if len(raw) > CONTROL_MAX_BYTES:
        raise ChannelError(f"control file {remote.control_path} is larger than {CONTROL_MAX_BYTES} bytes")
    return parse_control(raw, remote.name), raw


def parse_control(raw: bytes, data_name: str) -> ControlFile:
    """Parse a control file's bytes (feeds.md); ChannelError with the reason when unusable."""
    try:
        data = json.loads(raw.decode("utf-8-sig").strip())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChannelError(f"control file of {data_name} is not one line of JSON") from exc
    if not isinstance(data, dict) or data.get("file") != data_name:
        raise ChannelError(f"control file of {data_name} does not name {data_name!r}")
    rows, digest = data.get("rows"), data.get("sha256")
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise ChannelError(f"control file of {data_name}: rows {rows!r} is not a count")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        raise ChannelError(f"control file of {data_name}: sha256 is not 64 hex digits")
    return ControlFile(file=data_name, rows=rows, sha256=digest.lower())


def _download(session: _Session, remote: RemoteFile, control: ControlFile, raw_control: bytes,
              landing_root: Path, stats: ChannelStats) -> None:
    """Land one file whole (data, then control file) or leave nothing of it."""
    final = safe_landing_path(landing_root, remote.landing_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    final = safe_landing_path(landing_root, remote.landing_path)  # again: no link swapped in since
    temp = final.with_name(f".{final.name}{TEMP_SUFFIX}")
    temp.unlink(missing_ok=True)  # a stale one from a killed run: start over
    try:
        session.run(lambda sftp: _copy_to(sftp, remote, temp), f"downloading {remote.remote_path}",
                    stats)
        size = temp.stat().st_size
        if size != remote.size:
            raise ChannelError(f"{remote.remote_path}: downloaded {size} bytes but the server listed "
                               f"{remote.size}; nothing landed")
        digest = sha256_of(temp)
        if not hmac.compare_digest(digest, control.sha256):
            raise ChannelError(f"{remote.remote_path}: sha256 {digest} does not match its control "
                               f"file ({control.sha256}); nothing landed")
        same_name = remote.name == final.name
        _promote(temp, final, raw_control if same_name else
                 control_line(final.name, control.rows, control.sha256).encode("utf-8"))
    finally:
        temp.unlink(missing_ok=True)


def _copy_to(sftp: paramiko.SFTPClient, remote: RemoteFile, temp: Path) -> None:
    """Download into temp, resuming after the bytes it already holds (a dropped connection)."""
    offset = temp.stat().st_size if temp.exists() else 0
    if offset > remote.size:
        temp.unlink()
        offset = 0
    with temp.open("ab") as out, sftp.open(remote.remote_path, "rb") as source:
        # one request at a time, of up to the size OpenSSH serves: a dropped connection surfaces
        # here (paramiko's prefetch would meet it in a helper thread and print it there)
        source.MAX_REQUEST_SIZE = READ_REQUEST
        try:
            if offset:
                source.seek(offset)
            while offset < remote.size:
                data = source.read(min(READ_REQUEST, remote.size - offset))
                if not data:
                    channel = sftp.get_channel()
                    if channel is None or channel.closed or not channel.get_transport().is_active():
                        raise ConnectionResetError("the connection closed during the download")
                    return  # shorter than listed: the size check reports it
                out.write(data)
                offset += len(data)
        finally:
            out.flush()
            os.fsync(out.fileno())


def _promote(temp: Path, final: Path, control_bytes: bytes) -> None:
    """Rename the verified data file into place, then write its control file (both or neither)."""
    control = final.with_name(final.name + CONTROL_SUFFIX)
    control.unlink(missing_ok=True)  # no reader may pair the new data with an old control file
    os.replace(temp, final)
    try:
        _write_bytes_atomic(control, control_bytes)
    except BaseException:
        final.unlink(missing_ok=True)
        raise


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}{TEMP_SUFFIX}")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _archive(session: _Session, config: SftpChannelConfig, remote: RemoteFile,
             stats: ChannelStats) -> str | None:
    """Move a fetched file and its control file into the archive folder on the server."""
    if not config.archive_dir:
        return None
    folder = posixpath.normpath(posixpath.join(config.remote_root, config.archive_dir,
                                               posixpath.dirname(remote.landing_path)))
    target = posixpath.join(folder, remote.name)

    def move(sftp: paramiko.SFTPClient) -> None:
        _makedirs(sftp, folder)
        sftp.posix_rename(remote.remote_path, target)
        sftp.posix_rename(remote.control_path, target + CONTROL_SUFFIX)

    try:
        session.run(move, f"archiving {remote.remote_path}", stats)
    except (ChannelError, OSError, paramiko.SSHException) as exc:
        # the file landed whole and is in the manifest; only the tidying on the server failed
        message = f"feed {remote.feed}: {remote.remote_path} landed but could not be archived: {exc}"
        log.warning("sftp %s: %s", config.name, message)
        stats.errors.append(message[:1000])
        return None
    return target


def _makedirs(sftp: paramiko.SFTPClient, folder: str) -> None:
    parts = folder.split("/")
    for depth in range(1, len(parts) + 1):
        path = "/".join(parts[:depth])
        if path in ("", ".", ".."):
            continue
        try:
            sftp.stat(path)
        except FileNotFoundError:
            sftp.mkdir(path)


# -- the manifest -------------------------------------------------------------------------------

def _fetched_versions(warehouse: Warehouse, channel: str) -> set[tuple[str, str]]:
    if not warehouse.path.exists():
        return set()
    with warehouse.writer() as con:
        rows = query_sql_file(con, "ops/channel_fetch_lookup.sql", {"channel": channel}).fetchall()
    return {(path, sha) for path, sha in rows}


def _record_fetch(warehouse: Warehouse, channel: str, remote: RemoteFile, sha256: str,
                  archived_to: str | None) -> None:
    with warehouse.writer() as con:
        run_sql_file(con, "ops/channel_fetch_record.sql", {
            "channel": channel, "remote_path": remote.remote_path, "sha256": sha256,
            "size_bytes": remote.size, "feed": remote.feed, "facility": remote.facility,
            "extract_date": remote.extract_date, "landing_path": remote.landing_path,
            "fetched_at": dt.datetime.now(dt.UTC).replace(tzinfo=None), "archived_to": archived_to,
        })


# -- the connection -----------------------------------------------------------------------------

class _PinnedKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Accept the server only if its key has the configured fingerprint; never learn keys."""

    def __init__(self, config: SftpChannelConfig) -> None:
        self._config = config

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        expected = self._config.host_key_fingerprint
        got = fingerprint_of(key)
        if expected is None:
            raise HostKeyError(
                f"sftp {self._config.name}: host {hostname} is not in the pinned known_hosts file "
                f"{self._config.known_hosts} (its key is {key.get_name()} {got}); refusing to connect")
        if not hmac.compare_digest(got.rstrip("="), expected.rstrip("=")):
            raise HostKeyError(
                f"sftp {self._config.name}: host key of {hostname} is {key.get_name()} {got}, not the "
                f"pinned {expected}; refusing to connect (a changed key may be an attack; update "
                f"the pin only if the server's key was rotated on purpose)")


def fingerprint_of(key: paramiko.PKey) -> str:
    """A public key's fingerprint as OpenSSH prints it (`SHA256:<base64 without padding>`)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class _Session:
    """One SSH connection and its SFTP client for a batch; reopened with backoff after a drop."""

    def __init__(self, config: SftpChannelConfig) -> None:
        self.config = config
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._pkey: paramiko.PKey | None = None

    @property
    def where(self) -> str:
        return f"sftp {self.config.name} ({self.config.username}@{self.config.host}:{self.config.port})"

    def connect(self, stats: ChannelStats | None) -> None:
        """Open the connection, retrying transient network errors (not key or login refusals)."""
        self._retrying(self._open, "connecting", stats)

    def run(self, operation: Callable[[paramiko.SFTPClient], T], what: str,
            stats: ChannelStats | None) -> T:
        """Run an SFTP operation; after a dropped connection reconnect and run it again."""
        return self._retrying(lambda: operation(self._require()), what, stats)

    def _retrying(self, call: Callable[[], T], what: str, stats: ChannelStats | None) -> T:
        delays: Iterator[float] = backoff_delays(self.config.backoff_base_s, self.config.backoff_cap_s)
        attempts = 0
        while True:
            try:
                return call()
            except (HostKeyError, paramiko.AuthenticationException, paramiko.BadHostKeyException):
                raise
            except (OSError, EOFError, paramiko.SSHException) as exc:
                if not self._dropped(exc):
                    raise
                self.close()
                attempts += 1
                if attempts > self.config.retries:
                    raise ChannelError(
                        f"{self.where}: connection lost while {what}; gave up after "
                        f"{self.config.retries} reconnection(s): {type(exc).__name__}: {exc}") from exc
                if stats is not None:
                    stats.retries += 1
                delay = next(delays)
                log.warning("%s: connection lost while %s (%s); reconnecting in %.2f s (%d/%d)",
                            self.where, what, type(exc).__name__, delay, attempts, self.config.retries)
                time.sleep(delay)

    def _dropped(self, exc: BaseException) -> bool:
        """Whether an error means the connection is gone (not a refusal by the SFTP server)."""
        if isinstance(exc, (EOFError, TimeoutError, socket.timeout, paramiko.SSHException,
                            ConnectionError)):
            return True
        transport = self._client.get_transport() if self._client is not None else None
        return transport is None or not transport.is_active()

    def _require(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._open()
        assert self._sftp is not None
        return self._sftp

    def _open(self) -> None:
        config = self.config
        client = paramiko.SSHClient()
        try:
            if config.known_hosts is not None:
                client.load_host_keys(str(config.known_hosts))
            client.set_missing_host_key_policy(_PinnedKeyPolicy(config))
            client.connect(
                config.host, port=config.port, username=config.username, password=config.password,
                pkey=self._key(), allow_agent=False, look_for_keys=False,
                timeout=config.connect_timeout_s, banner_timeout=config.connect_timeout_s,
                auth_timeout=config.connect_timeout_s, channel_timeout=config.connect_timeout_s)
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            if channel is not None:
                channel.settimeout(config.io_timeout_s)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"{self.where}: the server's host key {exc.key.get_name()} {fingerprint_of(exc.key)} "
                f"differs from the one pinned in {config.known_hosts} "
                f"({fingerprint_of(exc.expected_key)}); refusing to connect (a changed key may be an "
                "attack; update known_hosts only if the key was rotated on purpose)") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise ChannelError(f"{self.where}: login refused ({exc})") from None
        except BaseException:
            client.close()
            raise
        self._client, self._sftp = client, sftp

    def _key(self) -> paramiko.PKey | None:
        if self.config.private_key_file is None:
            return None
        if self._pkey is None:
            try:
                self._pkey = paramiko.PKey.from_path(self.config.private_key_file,
                                                     password=self.config.passphrase)
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise ChannelError(f"{self.where}: cannot read private key "
                                   f"{self.config.private_key_file}: {exc}") from None
        return self._pkey

    def close(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp, self._client = None, None
        for closable in (sftp, client):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # noqa: BLE001 - closing a dead connection may fail either way
                    log.debug("closing %s failed", self.where, exc_info=True)


# -- configuration helpers ----------------------------------------------------------------------

def _check_feeds(feeds: Sequence[str]) -> None:
    unknown = [f for f in feeds if f not in FEEDS]
    if unknown:
        raise ConfigError(f"unknown feed(s) {', '.join(unknown)}")


def _path(value: object, base_dir: Path | None) -> Path | None:
    if value in (None, ""):
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() or base_dir is None else (base_dir / path)


def _secret_env(opts: Mapping[str, Any], key: str, env: Mapping[str, str], name: str) -> str | None:
    variable = opts.get(key)
    if not variable:
        return None
    if str(variable) not in env:
        raise ConfigError(f"[channels.{name}] {key} names ${variable}, which is not set")
    return env[str(variable)]


def _read_secret_file(path: Path, name: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"[channels.{name}] cannot read secret file {path}: {exc.strerror}") from None
    _warn_if_readable(path, name)
    return text


def _warn_if_readable(path: Path, name: str) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("[channels.%s] secret file %s can be read by group or others (mode %o); "
                    "chmod 600 it", name, path, stat.S_IMODE(mode))


def _number(opts: Mapping[str, Any], key: str, default: T, kind: Callable[[Any], T], name: str) -> T:
    if key not in opts:
        return default
    try:
        value = kind(opts[key])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[channels.{name}] {key} = {opts[key]!r} is not a number") from exc
    if value < 0:  # type: ignore[operator]
        raise ConfigError(f"[channels.{name}] {key} must not be negative")
    return value
