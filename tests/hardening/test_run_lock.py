"""The run lock between real processes: two started at the same moment, one wins and the other is
refused; a holder killed with SIGKILL leaves no stale lock; a waiter gets it when it is freed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reconcile.run_lock import RunLockBusy, run_lock, run_lock_is_held
from tests.hardening.kit import REPO

HOLDER = """
import sys, time
from pathlib import Path
from reconcile.run_lock import RunLockBusy, run_lock
warehouse, go, hold = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
try:
    with run_lock(warehouse, "run 2026-10-01..2026-10-01"):
        print("held", flush=True)
        time.sleep(hold)
except RunLockBusy as exc:
    print("busy", exc, flush=True)
"""


def holder(warehouse: Path, go: Path, hold: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse), str(go), str(hold)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)


def test_two_runs_started_at_once_one_holds_and_the_other_is_refused(tmp_path):
    warehouse, go = tmp_path / "warehouse.duckdb", tmp_path / "go"
    procs = [holder(warehouse, go, 2.0) for _ in range(2)]
    for proc in procs:  # both are waiting for the same starting signal
        assert proc.stdout.readline() == "ready\n"
    go.touch()
    outputs = sorted(p.communicate(timeout=60)[0] for p in procs)
    assert outputs[0].startswith("busy") and outputs[1].startswith("held"), outputs
    assert "in use by another ChartLedger run (pid " in outputs[0]
    assert "run 2026-10-01..2026-10-01" in outputs[0]


def test_a_killed_holder_leaves_no_stale_lock_and_a_waiter_gets_it(tmp_path):
    warehouse, go = tmp_path / "warehouse.duckdb", tmp_path / "go"
    go.touch()
    proc = holder(warehouse, go, 60)
    assert proc.stdout.readline() == "ready\n" and proc.stdout.readline().startswith("held")
    assert run_lock_is_held(warehouse)
    with pytest.raises(RunLockBusy), run_lock(warehouse, "second"):
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not run_lock_is_held(warehouse)
    with run_lock(warehouse, "after the kill"):
        assert run_lock_is_held(warehouse)

    proc = holder(warehouse, go, 0.5)
    assert proc.stdout.readline() == "ready\n" and proc.stdout.readline().startswith("held")
    with run_lock(warehouse, "waiter", wait_s=30, poll_s=0.02):  # waits instead of refusing
        assert proc.wait(timeout=30) == 0  # the holder had finished and let go
