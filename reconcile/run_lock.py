"""One ChartLedger run (or rebuild, or close) per warehouse at a time, across processes.

The warehouse's writer lock (reconcile/warehouse.py) is taken step by step, so two `chartledger
run` processes of the same days could still interleave their steps (one's staging between the
other's staging and rules). The run lock is held for a whole run: a second run of the same
warehouse is refused at once (or waits up to `wait_s`), naming the run that holds it. It is an
OS lock (flock) on a file beside the warehouse, so a killed run releases it with its process.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunLockBusy(RuntimeError):
    """Another run holds the warehouse's run lock."""


def run_lock_path(warehouse_path: Path) -> Path:
    return warehouse_path.with_name(warehouse_path.name + ".run.lock")


@contextmanager
def run_lock(warehouse_path: Path, what: str, wait_s: float = 0.0,
             poll_s: float = 0.1) -> Iterator[None]:
    """Hold the run lock of `warehouse_path` for the block; `what` (e.g. "run 2026-10-01..
    2026-10-03") is recorded in the lock file so that a refused run can say who holds it."""
    path = run_lock_path(warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLockBusy(
                        f"warehouse {warehouse_path} is in use by another ChartLedger run "
                        f"({_holder(path)}); refused so that the two never interleave their "
                        "writes: start again when it has finished") from None
                time.sleep(poll_s)
        try:
            started = dt.datetime.now().replace(microsecond=0).isoformat()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, {what}, started {started}\n".encode(), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "holder unknown"


def run_lock_is_held(warehouse_path: Path) -> bool:
    """True while some process (this one included) holds the run lock of `warehouse_path`."""
    path = run_lock_path(warehouse_path)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
