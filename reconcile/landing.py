"""Discover a day's files in the landing directory and check them against their control files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reconcile.feeds import FEEDS, Feed, classify

CONTROL_SUFFIX = ".ctl"
TEMP_SUFFIXES = (".part", ".tmp", ".partial")


@dataclass(frozen=True)
class ControlFile:
    file: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class LandedFile:
    """A data file of one feed and extract date, with what its control file says (if any)."""

    feed: Feed
    relative_path: str
    path: Path
    extract_date: dt.date
    facility: str | None
    size_bytes: int
    sha256: str
    control: ControlFile | None
    control_error: str | None = None
    control_sha256: str | None = None

    @property
    def complete(self) -> bool:
        return self.control is not None or self.control_error is not None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_control(path: Path, data_name: str) -> ControlFile:
    """Parse a `.ctl` file; ValueError with a clear reason when it is unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig").strip())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"control file {path.name} is not one line of JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"control file {path.name} is not a JSON object")
    missing = [k for k in ("file", "rows", "sha256") if k not in data]
    if missing:
        raise ValueError(f"control file {path.name} lacks {', '.join(missing)}")
    if data["file"] != data_name:
        raise ValueError(f"control file {path.name} names {data['file']!r}, not {data_name!r}")
    rows, digest = data["rows"], data["sha256"]
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise ValueError(f"control file {path.name}: rows {rows!r} is not a count")
    if not isinstance(digest, str) or len(digest) != 64:
        raise ValueError(f"control file {path.name}: sha256 {digest!r} is not 64 hex digits")
    return ControlFile(file=data_name, rows=rows, sha256=digest.lower())


def discover(landing_root: Path, extract_date: dt.date,
             feeds: Iterable[str] | None = None) -> list[LandedFile]:
    """Every data file under the landing root whose name carries `extract_date`, sorted by path."""
    wanted = set(feeds) if feeds is not None else set(FEEDS)
    stamp = extract_date.strftime("%Y%m%d")
    found: list[LandedFile] = []
    if not landing_root.is_dir():
        return found
    for path in sorted(landing_root.rglob(f"*{stamp}*")):
        if not path.is_file() or path.is_symlink():
            continue
        if path.name.endswith(CONTROL_SUFFIX) or path.name.endswith(TEMP_SUFFIXES):
            continue
        relative = path.relative_to(landing_root).as_posix()
        named = classify(relative)
        if named is None or named.extract_date != extract_date or named.feed.name not in wanted:
            continue
        control_path = path.with_name(path.name + CONTROL_SUFFIX)
        control, control_error, control_sha = None, None, None
        if control_path.is_file():
            control_sha = sha256_of(control_path)
            try:
                control = read_control(control_path, path.name)
            except ValueError as exc:
                control_error = str(exc)
        found.append(LandedFile(
            feed=named.feed, relative_path=relative, path=path, extract_date=extract_date,
            facility=named.facility, size_bytes=path.stat().st_size, sha256=sha256_of(path),
            control=control, control_error=control_error, control_sha256=control_sha,
        ))
    return found


def facilities_in(landing_root: Path) -> list[str]:
    """Facility codes named by per-facility files anywhere in the landing directory."""
    codes: set[str] = set()
    for feed in FEEDS.values():
        if not feed.per_facility:
            continue
        folder = landing_root / Path(feed.pattern_text).parent
        if folder.is_dir():
            for path in folder.iterdir():
                named = classify(path.relative_to(landing_root).as_posix())
                if named and named.facility:
                    codes.add(named.facility)
    return sorted(codes)
