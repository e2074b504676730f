"""Shared fixtures: one reconciled demo month for the tests that need a realistic system."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconcile.config import Settings, default_settings
from reconcile.demo.generator import GeneratorOptions, generate
from tests.engine_kit import day_range, run_days

MONTH_START = dt.date(2026, 10, 1)
MONTH_OPTIONS = GeneratorOptions(start=MONTH_START, days=31, visits_per_day=15, seed=7)
MONTH_END = dt.date(2026, 10, 31)


@dataclass(frozen=True)
class DemoMonth:
    root: Path
    settings: Settings
    truth_csv: Path


def _build_demo_month(root: Path) -> None:
    generate(root / "landing", MONTH_OPTIONS)
    run_days(default_settings(root / "landing", root / "warehouse.duckdb"),
             day_range(MONTH_START, MONTH_END))


@pytest.fixture(scope="session")
def demo_month(tmp_path_factory) -> DemoMonth:
    """October 2026 of the demo system (3 facilities, default defect rates), reconciled day by
    day with the engine.

    Each worker gets its own copy (tests write to it: the close, reruns), but under pytest-xdist
    the month is built once per session: the first worker to ask builds it under a file lock in
    the session's shared temporary directory, the others wait for it and copy the files (the
    build took about 70 s a worker; a copy takes well under a second). A build that failed
    leaves no `built` marker, so the next worker builds it again (and fails the same way)."""
    root = tmp_path_factory.mktemp("demo_month")
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        _build_demo_month(root)
    else:
        shared = tmp_path_factory.getbasetemp().parent / "demo_month_shared"  # this session's
        shared.mkdir(exist_ok=True)
        with (shared / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                built = shared / "month"
                if not (shared / "built").exists():
                    shutil.rmtree(built, ignore_errors=True)
                    built.mkdir()
                    _build_demo_month(built)
                    (shared / "built").touch()
                shutil.copytree(built, root, dirs_exist_ok=True)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    settings = default_settings(root / "landing", root / "warehouse.duckdb")
    return DemoMonth(root, settings, root / "landing" / "truth.csv")


# The slowest test files (measured: `scripts/test` prints the slowest tests; the figures are the
# whole file, fixtures included, from `--durations=0` of a full run on 2026-12-08 at load 3-4, so
# about 1.5x a quiet machine), started first so that the two xdist workers (one file at a time,
# --dist loadfile) finish together instead of one of them starting a two-minute file at the end.
# Order only; every test still runs. test_close_package comes well after test_rule_catalogue: both
# use the demo month, which the first of them builds (the other one waits for it).
SLOWEST_FIRST = (
    "tests/test_demo_end_to_end.py",  # 315 s
    "tests/hardening/test_kill_and_concurrency.py",  # 167 s
    "tests/ops/test_dagster_services.py",  # 164 s
    "tests/test_rule_catalogue.py",  # 107 s with the demo month
    "tests/channels/test_channels_end_to_end.py",  # 98 s (70 s since the file side uses the engine)
    "tests/test_parallel_parse.py",  # 72 s
    "tests/test_dagster_graph.py",  # 50 s
    "tests/test_charge_rules.py",  # 49 s
    "tests/hardening/test_rebuild_and_corruption.py",  # 43 s
    "tests/test_publish_incremental.py",
    "tests/hardening/test_phi_and_secrets_scan.py",
    "tests/test_close_package.py",  # 35 s when the demo month is built
    "tests/hardening/test_parser_fuzz.py",  # 30 s
    "tests/ops/test_facility_isolation_and_sla.py",
    "tests/demo/test_generator.py",  # 26 s
    "tests/test_exception_lifecycle.py",  # 26 s
    "tests/channels/test_sftp.py",  # 25 s
    "tests/test_bad_input_corpus.py",  # 25 s
)


def pytest_configure(config) -> None:
    # pytest-xdist's --dist loadfile/loadscope sorts the files by their number of tests, most
    # first, unless told otherwise (--loadscope-reorder is its default): that undid the order
    # below and started the one-test files that take minutes (the services backfill, the channels
    # end to end) last, one worker finishing them alone. Keep the collection order instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(session, config, items) -> None:
    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(Path(__file__).resolve().parent.parent)
        try:
            return SLOWEST_FIRST.index(path.as_posix())
        except ValueError:
            return len(SLOWEST_FIRST)
    items.sort(key=rank)  # stable: the order within a file and among the rest is kept
