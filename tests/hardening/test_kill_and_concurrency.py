"""Runs killed with SIGKILL at every stage and then rerun; two runs of one warehouse at once;
readers of the analyst database, the warehouse and the Dagster instance while a run writes.

One chain of real `chartledger run` subprocesses over the reference days (3 days, 2 facilities)
does it all, and the tests below assert what it observed. The subprocesses stop at named fault
points (reconcile/faults.py, test-only): they SIGKILL themselves there, or pause there (writing a
marker file) until the test releases or SIGKILLs them from outside.

 1. killed while checksumming the day's files (landing)
 2. paused with a batch inserted and its file's transaction open (staging): a second run of the
    same warehouse is started (refused), the warehouse and the Dagster instance are read, then
    the run is SIGKILLed from outside
 3. killed on day 2 with every finding and the lifecycle written but not committed (rules)
 4. killed with the analyst database's temporary file half-written (publish)
 5. the last run is not killed: it pauses before day 2's rules (an analyst opens the published
    day-1 database) and after day 2's database is renamed in (the analyst's session still reads
    day 1, a new session sees day 2), then finishes; its state must equal the reference run's.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from reconcile.publish import load_dictionary
from reconcile.warehouse import Warehouse
from tests.hardening.kit import START, Site, chartledger, cli_env, run_args, state_fingerprints

DAY2 = "2026-10-02"


@dataclasses.dataclass
class Kill:
    point: str
    returncode: int
    output: str
    warehouse_error: str | None  # a deep read of the warehouse after the kill
    analyst: str  # absent | whole | the error reading it


@dataclasses.dataclass
class Chain:
    site: Site
    kills: list[Kill] = dataclasses.field(default_factory=list)
    second_run: subprocess.CompletedProcess[str] | None = None
    holder_pid: int = 0
    runs_before_second: int = 0
    runs_after_second: int = 0
    warehouse_read_while_writing: str = ""
    status_seen_by_instance_reader: str = ""
    reader_before: object = None  # what an analyst session saw before day 2's publish
    reader_after: object = None  # the same session after day 2's database was renamed in
    new_session_after: object = None
    final: subprocess.CompletedProcess[str] | None = None
    final_returncode: int | None = None
    statuses: Counter[str] = dataclasses.field(default_factory=Counter)


class Paused:
    """A `chartledger run` subprocess that pauses at fault points until released."""

    def __init__(self, site: Site, config: Path, points: str, markers: Path) -> None:
        markers.mkdir(exist_ok=True)
        self.markers = markers
        self.log = markers / "run.log"
        env = cli_env(site.home, CHARTLEDGER_FAULT_POINT=points,
                      CHARTLEDGER_FAULT_ACTION="pause", CHARTLEDGER_FAULT_DIR=str(markers))
        with self.log.open("w") as out:  # a file, not a pipe: a full pipe would stall the run
            self.proc = subprocess.Popen(run_args(site.landing, site.warehouse, config), env=env,
                                         stdout=out, stderr=subprocess.STDOUT, text=True)

    def wait_at(self, point: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not (self.markers / point).exists():
            if self.proc.poll() is not None:
                pytest.fail(f"run ended ({self.proc.returncode}) before {point}:\n{self.output}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"run never reached {point}:\n{self.output}")
            time.sleep(0.05)

    def release(self, point: str) -> None:
        (self.markers / point).unlink()

    @property
    def output(self) -> str:
        return self.log.read_text()


def killed(site: Site, config: Path, point: str) -> Kill:
    done = chartledger(run_args(site.landing, site.warehouse, config), site.home,
                       CHARTLEDGER_FAULT_POINT=point)
    return observe_kill(site, point, done.returncode, done.stdout + done.stderr)


def observe_kill(site: Site, point: str, returncode: int, output: str) -> Kill:
    try:
        Warehouse(site.warehouse).verify(deep=True)  # opens (WAL replayed), every block reads
        warehouse_error = None
    except Exception as exc:  # noqa: BLE001 - recorded for the assertion
        warehouse_error = repr(exc)
    return Kill(point, returncode, output, warehouse_error, analyst_state(site.analyst))


def analyst_state(path: Path) -> str:
    """absent, whole (opens and every published table reads), or the error."""
    if not path.exists():
        return "absent"
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            for table in load_dictionary():
                con.execute(f"SELECT count(*) FROM {table.name}").fetchone()
        finally:
            con.close()
    except duckdb.Error as exc:
        return repr(exc)
    return "whole"


def instance_runs(home: Path) -> list[tuple[str, str]]:
    """(run id, status) of every run, read the way the webserver reads them."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [(run.run_id, run.status.value) for run in instance.get_runs()]


def analyst_view(con: duckdb.DuckDBPyConnection) -> tuple[str, int]:
    """The last night in the database and how many exception events it holds."""
    night = con.execute("SELECT max(as_of_date) FROM recon.rule_runs").fetchone()[0]
    events = con.execute("SELECT count(*) FROM recon.exception_events").fetchone()[0]
    return str(night), events


def analyst_view_in_new_process(path: Path) -> tuple[str, int]:
    """`analyst_view` from another process: within one process DuckDB hands a second connection
    to a path the database it already has open (the old file), so a new session is a new process
    (or comes after the old session's connections are closed)."""
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute('SELECT max(as_of_date) FROM recon.rule_runs').fetchone()[0]); "
            "print(c.execute('SELECT count(*) FROM recon.exception_events').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    return out[0], int(out[1])


@pytest.fixture(scope="module")
def chain(reference_started, tmp_path_factory) -> Chain:
    """Runs the chain (while the reference run may still be going on the other core)."""
    root = tmp_path_factory.mktemp("chain")
    site = Site(reference_started.site.landing, root / "site")
    site.folder.mkdir()
    config = reference_started.config
    obs = Chain(site)

    obs.kills.append(killed(site, config, "landing"))

    run = Paused(site, config, "staging@3", root / "m1")
    run.wait_at("staging")
    obs.holder_pid = run.proc.pid
    obs.runs_before_second = len(instance_runs(site.home))
    obs.status_seen_by_instance_reader = dict(instance_runs(site.home)).get(
        _latest_run(site.home), "")
    obs.second_run = chartledger(run_args(site.landing, site.warehouse, config,
                                          start=START, end=START), site.home)
    obs.runs_after_second = len(instance_runs(site.home))
    try:
        duckdb.connect(str(site.warehouse), read_only=True).close()
        obs.warehouse_read_while_writing = "opened"
    except duckdb.Error as exc:
        obs.warehouse_read_while_writing = str(exc)
    run.proc.send_signal(signal.SIGKILL)  # from outside, mid-transaction
    obs.kills.append(observe_kill(site, "staging", run.proc.wait(timeout=60), run.output))

    obs.kills.append(killed(site, config, "rules@2"))
    obs.kills.append(killed(site, config, "publish@3"))

    run = Paused(site, config, "rules@2,publish-renamed@2", root / "m2")
    run.wait_at("rules")
    reader = duckdb.connect(str(site.analyst), read_only=True)
    try:
        obs.reader_before = analyst_view(reader)
        run.release("rules")
        run.wait_at("publish-renamed")
        obs.reader_after = analyst_view(reader)
        obs.new_session_after = analyst_view_in_new_process(site.analyst)
        run.release("publish-renamed")
        obs.final_returncode = run.proc.wait(timeout=300)
    finally:
        reader.close()
    obs.final = subprocess.CompletedProcess(run.proc.args, obs.final_returncode, run.output, "")
    obs.statuses = Counter(status for _, status in instance_runs(site.home))
    return obs


def _latest_run(home: Path) -> str:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs(limit=1)[0].run_id


def test_every_kill_was_a_sigkill_at_its_point_and_left_readable_files(chain):
    assert [k.point for k in chain.kills] == ["landing", "staging", "rules@2", "publish@3"]
    for kill in chain.kills:
        assert kill.returncode == -signal.SIGKILL, kill.output
        assert f"fault point {kill.point.split('@')[0]} reached" in kill.output
        assert kill.warehouse_error is None, kill
        assert kill.analyst in ("absent", "whole"), kill
    # killed mid-publish, the database published by the earlier run of day 1 is still whole
    assert chain.kills[-1].analyst == "whole"


def test_killed_runs_rerun_to_exactly_the_uninterrupted_state(chain, reference):
    assert chain.final_returncode == 0, chain.final.stdout
    assert state_fingerprints(chain.site.warehouse) == state_fingerprints(reference.site.warehouse)
    assert state_fingerprints(chain.site.analyst) == state_fingerprints(reference.site.analyst)


def test_killed_runs_are_closed_as_failed_so_they_hold_no_pool_slot(chain):
    assert chain.statuses["STARTED"] == chain.statuses["STARTING"] == 0
    assert chain.statuses["FAILURE"] >= len(chain.kills)


def test_a_second_run_of_the_same_warehouse_is_refused_while_one_runs(chain):
    done = chain.second_run
    assert done.returncode == 3, done.stdout + done.stderr
    assert "in use by another ChartLedger run" in done.stderr
    assert f"pid {chain.holder_pid}" in done.stderr
    assert chain.runs_after_second == chain.runs_before_second  # it started no Dagster run


def test_the_warehouse_is_not_a_reader_path_while_a_run_writes(chain):
    """DuckDB gives one process the file while it writes: a reader is refused (not served a torn
    state); analysts read analyst.duckdb. The Dagster instance (what the webserver reads) is
    readable meanwhile and shows the run as started."""
    assert chain.warehouse_read_while_writing != "opened"
    assert "lock" in chain.warehouse_read_while_writing.lower()
    assert chain.status_seen_by_instance_reader == "STARTED"


def test_an_analyst_session_reads_through_a_publish_and_the_next_session_sees_it(chain):
    night1, events1 = chain.reader_before
    assert night1 == START.isoformat()
    assert chain.reader_after == chain.reader_before  # same session, same (old) database
    night2, events2 = chain.new_session_after
    assert night2 == DAY2 and events2 >= events1


def test_a_session_holding_the_warehouse_makes_a_run_refuse_clearly(reference, tmp_path):
    """Someone holding warehouse.duckdb open (read-only) when a run starts: the run is refused
    with the reason and the holder's pid, and changes nothing."""
    site = reference.site.copy_to(tmp_path / "site")
    before = state_fingerprints(site.warehouse)
    holder = duckdb.connect(str(site.warehouse), read_only=True)
    try:
        done = chartledger(run_args(site.landing, site.warehouse, reference.config), site.home)
    finally:
        holder.close()
    assert done.returncode == 3, done.stdout + done.stderr
    assert "is open in another process" in done.stderr and f"PID {os.getpid()}" in done.stderr
    assert "Traceback" not in done.stderr
    assert state_fingerprints(site.warehouse) == before
