"""TEST-ONLY fault injection: stop a `chartledger` process at a named point of the nightly run.

Nothing here runs unless CHARTLEDGER_FAULT_POINT is set (the crash, concurrency and disk tests
of tests/hardening set it on a subprocess; no deployment should). `chartledger` arms it first
thing (reconcile/cli.py), which wraps the engine function behind the point:

    CHARTLEDGER_FAULT_POINT=<point>[@<n>][,...]  the n-th pass (default 1) through <point> ...
    CHARTLEDGER_FAULT_ACTION=kill                ... SIGKILLs the process (default), or
                            =pause               ... writes the file CHARTLEDGER_FAULT_DIR/<point>
                                                     and waits until it is removed, then goes on
                            =enospc              ... raises OSError(ENOSPC) (a full disk there)
                            =trace               ... records the pass in TRACE (in-process tests)

Points (see POINTS): `landing` (a landed file checksummed, during discovery), `staging` (a
batch inserted into staging, its file's transaction still open), `staging-file` (a file
committed), `feed-status` (inside the feed-status transaction), `canonical` (a canonical view
created), `rules` (all findings and the lifecycle written, before COMMIT), `publish` (a table
copied into the analyst database's temporary file), `publish-renamed` (the new analyst database
renamed into place, the data dictionary not yet written).
"""

from __future__ import annotations

import errno
import functools
import importlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_POINT = "CHARTLEDGER_FAULT_POINT"
ENV_ACTION = "CHARTLEDGER_FAULT_ACTION"
ENV_DIR = "CHARTLEDGER_FAULT_DIR"
ACTIONS = ("kill", "pause", "enospc", "trace")
TRACE: list[str] = []  # points passed with action "trace"
_ARMED: list[tuple[object, str, object]] = []  # (module, function, original) to disarm


@dataclass(frozen=True)
class Point:
    """Where a point sits: after (or before) a call of `module.function` whose first argument
    (a SQL file name, when `sql` is set) matches."""

    module: str
    function: str
    sql: str = ""  # prefix of the SQL file named by the call's second argument
    before: bool = False


POINTS: dict[str, Point] = {
    "landing": Point("reconcile.landing", "sha256_of"),
    "staging": Point("reconcile.staging", "execute_template", sql="staging/insert_rows.sql"),
    "staging-file": Point("reconcile.pipeline", "load_landed_file"),
    "feed-status": Point("reconcile.pipeline", "run_sql_file", sql="ops/feed_status_clear.sql"),
    "canonical": Point("reconcile.pipeline", "run_sql_file", sql="canonical/"),
    # either refresh path (refresh_exceptions.sql or refresh_exceptions_latest.sql)
    "rules": Point("reconcile.rules", "run_sql_file", sql="recon/refresh_exceptions"),
    "publish": Point("reconcile.publish", "_copy"),
    "publish-renamed": Point("reconcile.publish", "write_data_dictionary", before=True),
}


class FaultConfigError(ValueError):
    """CHARTLEDGER_FAULT_POINT or CHARTLEDGER_FAULT_ACTION names nothing we know."""


def parse(spec: str) -> tuple[str, int]:
    """`rules@2` -> ("rules", 2)."""
    name, _, count = spec.partition("@")
    if name not in POINTS:
        raise FaultConfigError(f"{ENV_POINT}={spec!r}: unknown point (one of {', '.join(POINTS)})")
    try:
        n = int(count) if count else 1
    except ValueError:
        raise FaultConfigError(f"{ENV_POINT}={spec!r}: @ must be followed by a count") from None
    if n < 1:
        raise FaultConfigError(f"{ENV_POINT}={spec!r}: the count starts at 1")
    return name, n


def arm_from_environment() -> list[str]:
    """Arm the points named by CHARTLEDGER_FAULT_POINT (a no-op when unset); return their names."""
    specs = [p.strip() for p in os.environ.get(ENV_POINT, "").split(",") if p.strip()]
    if not specs:
        return []
    action = os.environ.get(ENV_ACTION, "kill").strip() or "kill"
    if action not in ACTIONS:
        raise FaultConfigError(f"{ENV_ACTION}={action!r}: one of {', '.join(ACTIONS)}")
    folder = os.environ.get(ENV_DIR) or None
    names = []
    for spec in specs:
        name, n = parse(spec)
        arm(name, n, action, Path(folder) / name if folder else None)
        names.append(name)
    return names


def arm(name: str, n: int = 1, action: str = "kill", marker: Path | None = None) -> None:
    """Wrap the function behind point `name` so that its n-th matching call triggers `action`."""
    point = POINTS[name]
    module = importlib.import_module(point.module)
    original = getattr(module, point.function, None)
    if original is None:
        raise FaultConfigError(f"fault point {name}: {point.module}.{point.function} no longer exists")
    passes = 0

    def matches(args: tuple[Any, ...]) -> bool:
        return not point.sql or (len(args) > 1 and str(args[1]).startswith(point.sql))

    def trigger() -> None:
        nonlocal passes
        passes += 1
        if passes == n or action == "trace":
            _act(name, action, marker)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hit = matches(args)
        if hit and point.before:
            trigger()
        result = original(*args, **kwargs)
        if hit and not point.before:
            trigger()
        return result

    _ARMED.append((module, point.function, original))
    setattr(module, point.function, wrapper)


def disarm() -> None:
    """Put back every function that `arm` wrapped (in-process tests)."""
    while _ARMED:
        module, function, original = _ARMED.pop()
        setattr(module, function, original)


def _act(name: str, action: str, marker: Path | None) -> None:
    if action == "trace":
        TRACE.append(name)
        return
    print(f"chartledger: fault point {name} reached ({action})", file=sys.stderr, flush=True)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (injected at fault point {name})")
    elif action == "pause":
        if marker is None:  # nobody can release us: wait for the kill
            while True:
                time.sleep(1)
        marker.write_text(f"{os.getpid()} {name}\n", encoding="utf-8")
        while marker.exists():
            time.sleep(0.02)

