"""The test-only fault points still sit where they claim to (the engine is refactored often), and
identifiers and values from configuration are checked before they reach SQL."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from reconcile import faults
from reconcile.config import ConfigError, DuckDBSettings, default_settings, load_settings
from reconcile.publish import publish
from reconcile.sqlfiles import render_template
from reconcile.warehouse import Warehouse
from tests.engine_kit import run_days
from tests.hardening.kit import START, make_landing


def test_every_fault_point_is_passed_by_one_night_in_order(tmp_path):
    settings = default_settings(make_landing(tmp_path), tmp_path / "warehouse.duckdb")
    for name in faults.POINTS:
        faults.arm(name, action="trace")
    faults.TRACE.clear()
    try:
        run_days(settings, [START])
        with Warehouse(settings.warehouse_path).writer() as con:
            publish(con, settings.analyst_path)
    finally:
        faults.disarm()
    first = {name: faults.TRACE.index(name) for name in faults.POINTS if name in faults.TRACE}
    assert set(first) == set(faults.POINTS)
    assert sorted(first, key=first.get) == ["landing", "staging", "staging-file", "feed-status",
                                            "canonical", "rules", "publish", "publish-renamed"]


def test_fault_specs_are_checked(monkeypatch):
    assert faults.parse("rules@2") == ("rules", 2)
    for bad in ("nowhere", "rules@0", "rules@x"):
        with pytest.raises(faults.FaultConfigError):
            faults.parse(bad)
    monkeypatch.setenv(faults.ENV_POINT, "rules")
    monkeypatch.setenv(faults.ENV_ACTION, "explode")
    with pytest.raises(faults.FaultConfigError):
        faults.arm_from_environment()
    monkeypatch.delenv(faults.ENV_POINT)
    assert faults.arm_from_environment() == []


INJECTION = "x; DROP TABLE canary; --"


def toml(tmp_path, body: str):
    path = tmp_path / "site.toml"
    path.write_text('[chartledger]\nlanding_root = "landing"\nwarehouse = "wh.duckdb"\n' + body,
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("body", [
    f'facilities = ["{INJECTION}"]\n',
    f'[channels."{INJECTION}"]\ntype = "sftp"\n',
])
def test_identifiers_from_configuration_are_refused_at_load(tmp_path, body):
    with pytest.raises(ConfigError):
        load_settings(toml(tmp_path, body))


def test_values_spliced_into_sql_are_checked_before_any_statement_runs(tmp_path):
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE canary AS SELECT 1 AS alive")
    con.close()
    for settings in (DuckDBSettings(memory_limit="1GB'; DROP TABLE canary; --"),
                     DuckDBSettings(temp_directory="/tmp/x'; DROP TABLE canary; --")):
        with pytest.raises(ValueError), Warehouse(path, settings).writer():
            pass
    with pytest.raises(ConfigError):
        render_template("staging/insert_rows.sql", table=INJECTION)
    quoted = tmp_path / "it's here"
    quoted.mkdir()
    shutil.copy(path, quoted / "warehouse.duckdb")
    with pytest.raises(ValueError), Warehouse(quoted / "warehouse.duckdb").writer() as con:
        publish(con, quoted / "analyst.duckdb")
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT alive FROM canary").fetchone() == (1,)
    con.close()
