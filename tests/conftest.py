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
