"""The reference site of the hardening tests: a small demo landing (three days, two facilities,
three times the default defect rates, plus quarantined records that carry patient identifiers),
run once without interruption by a real `chartledger run` subprocess.

The run starts in the background as soon as a test asks for `reference_started` (its landing
and configuration exist at once), so the tests that need only those work meanwhile; `reference`
waits for it to finish.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from reconcile.config import Settings, Thresholds, default_settings, render_settings
from tests.engine_kit import day_range, run_days
from tests.hardening.kit import (
    END,
    OPTIONS,
    REPO,
    START,
    Site,
    cli_env,
    make_landing,
    run_args,
)

# A secret the reference run has in its environment (a webhook URL with a token in it): it must
# not show up anywhere the run writes.
SECRET = "tok-7Qz4-NOT-IN-LOGS-91c2"
SECRET_ENV = {"CHARTLEDGER_ALERT_WEBHOOK": f"http://127.0.0.1:9/alert?token={SECRET}"}


@dataclass(frozen=True)
class Reference:
    site: Site
    config: Path
    output: str  # stdout and stderr of the run (verbose logging)


@dataclass
class StartedReference:
    """The reference run, started: its landing and configuration are ready, its site is not.

    `proc` is None in the xdist workers that found the run started by another worker: they wait
    for the exit status that the run's wrapper writes to `returncode_file`."""

    site: Site
    config: Path
    proc: subprocess.Popen[str] | None
    log: Path
    returncode_file: Path
    finished: Reference | None = None

    def finish(self, timeout: float = 600) -> Reference:
        if self.finished is None:
            if self.proc is not None:
                self.proc.wait(timeout=timeout)
            deadline = time.monotonic() + timeout
            while not self.returncode_file.exists():
                assert time.monotonic() < deadline, f"the reference run did not end: {self.log}"
                time.sleep(0.1)
            returncode = int(self.returncode_file.read_text(encoding="utf-8"))
            output = self.log.read_text(encoding="utf-8")
            assert returncode == 0, output
            self.finished = Reference(self.site, self.config, output)
        return self.finished


# Runs a command and then writes its exit status to a file (os.replace: whole or absent), so that
# a process other than the one that started it can wait for it.
_RECORD_EXIT = ("import os, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
                "open(sys.argv[1] + '.tmp', 'w').write(str(rc)); "
                "os.replace(sys.argv[1] + '.tmp', sys.argv[1]); sys.exit(rc)")


def append_records(path: Path, text: str, records: int) -> None:
    """Append `records` records to a landed file and rewrite its control file to match."""
    data = path.read_bytes() + text.encode("utf-8")
    path.write_bytes(data)
    control = path.with_name(path.name + ".ctl")
    meta = json.loads(control.read_text(encoding="utf-8"))
    meta.update(rows=meta["rows"] + records, sha256=hashlib.sha256(data).hexdigest())
    control.write_text(json.dumps(meta) + "\n", encoding="utf-8")


def quarantine_phi(landing: Path) -> None:
    """Records that are quarantined whole with patient identifiers in them: an ADT message
    whose MSH segment is missing (its PID travels into staging.rejected_rows.value) and a cabinet
    row with an MRN and an impossible quantity."""
    adt = next((landing / "ehr" / "adt").glob("ADT_NORTH_*1002.hl7"))
    pid = next(s for s in adt.read_text(encoding="utf-8").replace("\n", "\r").split("\r")
               if s.startswith("PID|"))
    append_records(adt, f"\rEVN|A08|202610021200\r{pid}\rPV1|1|I|MED^1^A^NORTH\r", 1)
    cabinet = next((landing / "pharmacy").glob("ADC_SOUTH_*1002.csv"))
    mrn = pid.split("|")[3].split("^")[0]
    append_records(cabinet, f"ADC-S-BAD1,2026-10-02T10:00:00,SOUTH,ED-ADC-1,V,S999999,{mrn},"
                            "RX1,00409733701,DRUG,not-a-number,VIAL,RN1,\r\n", 1)


def write_config(folder: Path, landing: Path) -> Path:
    """The site's configuration: the demo's facilities, and a rejected-share threshold high
    enough that the quarantined records above hold nothing out of reconciliation."""
    settings = Settings(landing_root=landing, warehouse_path=folder / "warehouse.duckdb",
                        facilities=OPTIONS.facilities,
                        thresholds=Thresholds(rejected_share_threshold=Decimal("0.5")))
    path = folder / "chartledger.toml"
    path.write_text(render_settings(settings), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def reference_started(tmp_path_factory) -> Iterator[StartedReference]:
    """Started once per session: under pytest-xdist the first worker to ask starts it in the
    session's shared temporary directory (under a file lock) and the others use the same site,
    which every test only reads or copies (it took each worker a reference run before)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        root = tmp_path_factory.mktemp("reference")
    else:
        root = tmp_path_factory.getbasetemp().parent / "hardening_reference"
        root.mkdir(exist_ok=True)
    site = Site(root / "landing", root / "site")
    config, log, returncode_file = root / "chartledger.toml", root / "run.log", root / "run.rc"
    proc = None
    with (root.parent / f"{root.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (root / "started").exists():
                landing = make_landing(root)
                quarantine_phi(landing)
                assert write_config(root, landing) == config
                site.home.mkdir(parents=True)
                with log.open("w", encoding="utf-8") as out:  # a file: a full pipe would stall it
                    proc = subprocess.Popen(
                        [sys.executable, "-c", _RECORD_EXIT, str(returncode_file),
                         *run_args(landing, site.warehouse, config, verbose=True)],
                        env=cli_env(site.home, **SECRET_ENV), stdout=out,
                        stderr=subprocess.STDOUT, text=True, cwd=REPO, start_new_session=True)
                (root / "started").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    started = StartedReference(site, config, proc, log, returncode_file)
    try:
        yield started
    finally:
        if proc is not None and proc.poll() is None:  # the session ended before anyone waited
            if os.environ.get("PYTEST_XDIST_WORKER") is not None:
                proc.wait(timeout=600)  # another worker may still be waiting for it
            else:
                os.killpg(proc.pid, signal.SIGKILL)  # the wrapper and the run under it
                proc.wait()


@pytest.fixture(scope="session")
def reference(reference_started) -> Reference:
    return reference_started.finish()


@pytest.fixture(scope="session")
def engine_warehouse(tmp_path_factory, reference_started) -> Path:
    """The reference landing reconciled day by day with the engine alone (no Dagster: fast),
    with the spec's default settings."""
    settings = default_settings(reference_started.site.landing,
                                tmp_path_factory.mktemp("engine") / "warehouse.duckdb")
    run_days(settings, day_range(START, END))
    return settings.warehouse_path
