"""What every channel shares: safe landing paths, atomic landing writes, retry timing, run stats."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from reconcile.landing import CONTROL_SUFFIX


class ChannelError(RuntimeError):
    """A channel could not fetch a feed; the message names the channel, feed and what failed."""


class UnsafePathError(ChannelError):
    """A remote name that would land outside the landing directory (`..`, absolute, odd)."""


def safe_landing_path(landing_root: Path, relative_path: str) -> Path:
    """The absolute landing path of relative_path, refusing anything that escapes landing_root."""
    if not relative_path or "\x00" in relative_path or "\\" in relative_path:
        raise UnsafePathError(f"remote name {relative_path!r} is not a usable file name")
    posix = PurePosixPath(relative_path)
    if posix.is_absolute() or any(part in ("..", ".", "") for part in posix.parts):
        raise UnsafePathError(f"remote name {relative_path!r} would land outside the landing directory")
    root = landing_root.resolve()
    target = (root / Path(*posix.parts)).resolve()
    if root != target and root not in target.parents:
        raise UnsafePathError(f"remote name {relative_path!r} resolves outside {root}")
    return target


def control_line(data_name: str, rows: int, sha256: str) -> str:
    """The one JSON line of a `.ctl` file (feeds.md)."""
    return json.dumps({"file": data_name, "rows": rows, "sha256": sha256}) + "\n"


def _fsync_replace(tmp: Path, final: Path) -> None:
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small file by temporary name and rename (readers never see half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        _fsync_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class HashingWriter:
    """A binary file handle that counts bytes and computes sha256 as it is written."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._handle.write(data)


@dataclass
class LandingFile:
    """An open landing file being written under a temporary name; see `landing_file`."""

    relative_path: str
    final_path: Path
    temp_path: Path
    writer: HashingWriter
    rows: int = 0

    def write_line(self, line: str) -> None:
        """Write one record line (NDJSON item, CSV row) and count it."""
        self.writer.write(line.encode("utf-8") + b"\n")
        self.rows += 1


@contextmanager
def landing_file(landing_root: Path, relative_path: str) -> Iterator[LandingFile]:
    """Write a landing file and its control file, all or nothing.

    The data goes to a hidden temporary name, is fsynced and renamed, then the control file is
    written the same way; any exception removes both, so the pipeline never sees a partial file.
    The caller counts records with `write_line` or sets `rows` itself.
    """
    final = safe_landing_path(landing_root, relative_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.name}.{os.getpid()}.part")
    control = final.with_name(final.name + CONTROL_SUFFIX)
    renamed = False
    try:
        with temp.open("wb") as handle:
            target = LandingFile(relative_path, final, temp, HashingWriter(handle))
            yield target
            handle.flush()
            os.fsync(handle.fileno())
        # a re-fetch replaces both files; remove the old control first so that no reader pairs
        # the new data with the old control file
        control.unlink(missing_ok=True)
        os.replace(temp, final)
        renamed = True
        write_text_atomic(control, control_line(final.name, target.rows, target.writer.digest.hexdigest()))
    except BaseException:
        temp.unlink(missing_ok=True)
        if renamed:
            final.unlink(missing_ok=True)
            control.unlink(missing_ok=True)
        raise


def backoff_delays(base_s: float = 0.5, cap_s: float = 30.0, jitter: float = 0.5,
                   rng: random.Random | None = None) -> Iterator[float]:
    """Exponential backoff with jitter: base, 2·base, 4·base … capped, each ±jitter share."""
    rng = rng or random.Random()
    delay = base_s
    while True:
        yield max(0.0, min(cap_s, delay) * (1 + rng.uniform(-jitter, jitter)))
        delay = min(cap_s, delay * 2)


@dataclass
class Deadline:
    """A bounded total time for a channel run (monotonic clock)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    @property
    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def check(self, what: str) -> None:
        if self.remaining <= 0:
            raise ChannelError(f"{what}: gave up after the bounded total time of {self.seconds:g} s")

    def sleep(self, seconds: float, what: str) -> None:
        """Sleep, unless that would pass the deadline (then raise at once)."""
        if seconds >= self.remaining:
            raise ChannelError(
                f"{what}: waiting {seconds:g} s more would pass the bounded total time of {self.seconds:g} s")
        time.sleep(seconds)


@dataclass
class ChannelStats:
    """Health of one channel run for one feed; recorded in ops.channel_runs."""

    channel: str
    feed: str
    extract_date: dt.date
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    finished_at: dt.datetime | None = None
    outcome: str = "running"  # success | nothing_new | failed
    files_fetched: int = 0
    bytes_fetched: int = 0
    rows_fetched: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def landed(self, relative_path: str, size: int, rows: int) -> None:
        self.files.append(relative_path)
        self.files_fetched += 1
        self.bytes_fetched += size
        self.rows_fetched += rows

    def finish(self, outcome: str, error: str | None = None) -> ChannelStats:
        if error:
            self.errors.append(error[:1000])
        self.outcome = outcome
        self.finished_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return self

    def as_metadata(self) -> dict[str, object]:
        """Plain values for Dagster asset metadata (no patient data: names, counts, errors)."""
        return {
            "channel": self.channel, "outcome": self.outcome, "files_fetched": self.files_fetched,
            "bytes_fetched": self.bytes_fetched, "rows_fetched": self.rows_fetched,
            "retries": self.retries, "errors": len(self.errors),
        }
