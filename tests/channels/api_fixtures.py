"""Fixtures of the HTTP channel tests: a small demo landing directory, served by the demo's API
server (uvicorn on a free loopback port), a fresh warehouse and landing directory per test.

Test modules import what they use: `from tests.channels.api_fixtures import api_server, ...`.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconcile.channels.fhir_bulk import FhirBulkConfig
from reconcile.channels.rest_api import RestApiConfig
from reconcile.demo.api_server import DemoApiServer
from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.warehouse import Warehouse

CLIENT_ID = "chartledger-test"
SECRET = "api-secret-7f3e91"
SECRET_ENV = "CL_TEST_API_SECRET"
ENV = {SECRET_ENV: SECRET}
START = dt.date(2026, 10, 1)
DAYS = [START + dt.timedelta(days=n) for n in range(4)]
# short backoffs and bounds: the faulted cases finish in well under a second each
FAST: dict[str, Any] = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05, "timeout_s": 5.0,
                        "max_total_s": 30.0, "max_retries": 4}


@pytest.fixture(scope="session")
def api_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four days of the demo system (two facilities, a few visits a day): the server's data."""
    root = tmp_path_factory.mktemp("api_source")
    generate(root, GeneratorOptions(start=START, days=len(DAYS), facilities=("NORTH", "SOUTH"),
                                    visits_per_day=4, seed=3))
    return root


@pytest.fixture(scope="session")
def _empty_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api_warehouse") / "warehouse.duckdb"
    Warehouse(path).ensure_schema()
    return path


@pytest.fixture
def api_warehouse(tmp_path: Path, _empty_warehouse: Path) -> Warehouse:
    """A warehouse with the full schema (a copy of one built once per session)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(_empty_warehouse, path)
    return Warehouse(path)


@pytest.fixture
def api_landing(tmp_path: Path) -> Path:
    """The landing directory the channels write to (empty)."""
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def api_server(api_source: Path) -> Iterator[DemoApiServer]:
    """The demo API server over api_source; exports complete after one 202 poll, Retry-After 0."""
    with DemoApiServer(api_source, client_id=CLIENT_ID, client_secret=SECRET, export_polls=1,
                       export_retry_after_s=0) as server:
        yield server


def rest_config(server: DemoApiServer, name: str = "erp", **options: Any) -> RestApiConfig:
    """A rest_api channel on the demo server; `options` override the fast test defaults."""
    channel = {"base_url": server.url, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
               "page_limit": 7, **FAST, **options}
    return RestApiConfig.from_options(channel, {}, ENV, name=name)


def fhir_config(server: DemoApiServer, name: str = "ehr", **options: Any) -> FhirBulkConfig:
    """A fhir_bulk channel on the demo server; `options` override the fast test defaults."""
    channel = {"base_url": server.fhir_base_url, "client_id": CLIENT_ID,
               "client_secret_env": SECRET_ENV, "poll_min_s": 0.01, "poll_max_s": 10.0,
               **FAST, **options}
    return FhirBulkConfig.from_options(channel, {}, ENV, name=name)


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below root (hidden ones included) by relative path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def same_as_demo(source: Path, landing: Path, relative: str) -> bool:
    """The landed data file and its control file are byte-identical to the demo's."""
    return all((landing / name).read_bytes() == (source / name).read_bytes()
               for name in (relative, relative + ".ctl"))
