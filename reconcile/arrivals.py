"""Files that became complete in the landing directory after a point in time (a sensor's cursor)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from reconcile.feeds import classify
from reconcile.landing import CONTROL_SUFFIX


@dataclass(frozen=True)
class Arrival:
    relative_path: str  # the data file, relative to the landing root
    feed: str
    extract_date: dt.date
    completed_at: float  # epoch seconds: when its control file was written


def completed_since(landing_root: Path, since: float) -> list[Arrival]:
    """Data files whose control file was written after `since`, oldest first."""
    found = []
    if not landing_root.is_dir():
        return found
    for control in landing_root.rglob(f"*{CONTROL_SUFFIX}"):
        mtime = control.stat().st_mtime
        data = control.with_name(control.name[: -len(CONTROL_SUFFIX)])
        if mtime <= since or not data.is_file() or control.is_symlink():
            continue
        relative = data.relative_to(landing_root).as_posix()
        named = classify(relative)
        if named is not None:
            found.append(Arrival(relative, named.feed.name, named.extract_date, mtime))
    return sorted(found, key=lambda a: (a.completed_at, a.relative_path))
