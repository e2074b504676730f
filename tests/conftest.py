"""Shared fixtures: one reconciled demo month for the tests that need a realistic system."""

from __future__ import annotations

import datetime as dt
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


@pytest.fixture(scope="session")
def demo_month(tmp_path_factory) -> DemoMonth:
    """October 2026 of the demo system (3 facilities, default defect rates), reconciled day by
    day with the engine."""
    root = tmp_path_factory.mktemp("demo_month")
    generate(root / "landing", MONTH_OPTIONS)
    settings = default_settings(root / "landing", root / "warehouse.duckdb")
    run_days(settings, day_range(MONTH_START, MONTH_END))
    return DemoMonth(root, settings, root / "landing" / "truth.csv")


# The slowest test files (measured: `scripts/test` prints the 15 slowest tests), started first so
# that the two xdist workers (one file at a time, --dist loadfile) finish together instead of one
# of them starting a two-minute file at the end. Order only; every test still runs.
SLOWEST_FIRST = (
    "tests/ops/test_dagster_services.py",
    "tests/test_demo_end_to_end.py",
    "tests/hardening/test_kill_and_concurrency.py",
    "tests/test_rule_catalogue.py",
    "tests/channels/test_channels_end_to_end.py",
    "tests/hardening/test_phi_and_secrets_scan.py",
    "tests/hardening/test_rebuild_and_corruption.py",
    "tests/test_publish_incremental.py",
    "tests/ops/test_facility_isolation_and_sla.py",
)


def pytest_collection_modifyitems(session, config, items) -> None:
    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(Path(__file__).resolve().parent.parent)
        try:
            return SLOWEST_FIRST.index(path.as_posix())
        except ValueError:
            return len(SLOWEST_FIRST)
    items.sort(key=rank)  # stable: the order within a file and among the rest is kept
