"""The configuration file: defaults, overrides, validation, and the demo's rendering of it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from reconcile.config import (
    ConfigError,
    Settings,
    Thresholds,
    load_settings,
    render_settings,
    validate_identifier,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chartledger.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_takes_spec_defaults_and_resolves_relative_paths(tmp_path):
    cfg = load_settings(_write(tmp_path, '[chartledger]\nlanding_root = "in"\nwarehouse = "w.duckdb"\n'))
    assert cfg.landing_root == (tmp_path / "in").resolve()
    assert cfg.warehouse_path == (tmp_path / "w.duckdb").resolve()
    t = cfg.thresholds
    assert (t.charge_window_days, t.late_charge_days, t.bill_hold_days, t.dnfb_alert_days,
            t.rolling_window_days) == (3, 3, 4, 7, 14)
    assert (t.amount_tolerance, t.gl_tolerance) == (Decimal("0.01"), Decimal("1.00"))
    assert cfg.outputs == (tmp_path / "outputs").resolve()


def test_thresholds_and_feeds_are_read(tmp_path):
    cfg = load_settings(_write(tmp_path, """
[chartledger]
landing_root = "/data/landing"
warehouse = "/data/w.duckdb"
facilities = ["NORTH", "EAST-2"]
[thresholds]
charge_window_days = 5
gl_tolerance = "2.50"
[channels.ehr_sftp]
type = "sftp"
host = "sftp.example.org"
[feeds.charges]
channel = "ehr_sftp"
location = "ehr/charges"
archive = true
"""))
    assert cfg.facilities == ("NORTH", "EAST-2")
    assert cfg.thresholds.charge_window_days == 5
    assert cfg.thresholds.gl_tolerance == Decimal("2.50")
    assert cfg.feeds["charges"].channel == "ehr_sftp"
    assert cfg.feeds["charges"].options == {"archive": True}
    assert cfg.channels["ehr_sftp"].type == "sftp"
    assert cfg.channels["ehr_sftp"].options == {"host": "sftp.example.org"}


@pytest.mark.parametrize("text, message", [
    ('[chartledger]\nlanding_root = "x"\n', "warehouse"),
    ('[chartledger]\nlanding_root="x"\nwarehouse="y"\n[thresholds]\ncharge_windw_days = 3\n',
     "unknown threshold"),
    ('[chartledger]\nlanding_root="x"\nwarehouse="y"\n[thresholds]\nlate_charge_days = -1\n',
     "must not be negative"),
    ('[chartledger]\nlanding_root="x"\nwarehouse="y"\nfacilities=["north; drop"]\n',
     "facility code"),
    ('[chartledger]\nlanding_root="x"\nwarehouse="y"\n[feeds.payroll]\nchannel="file"\n',
     "not a known feed"),
    ('[chartledger]\nlanding_root="x"\nwarehouse="y"\n[feeds.adt]\nchannel="sftp"\n',
     "neither 'file' nor a"),
    ('[chartledger]\nlanding_root="x"\nwarehouse="y"\n[channels.erp]\ntype="soap"\n',
     "is not one of"),
    ('[chartledger]\nlanding_root="x"\nwarehouse="y"\n[channels."e r p"]\ntype="sql"\n',
     "channel name"),
    ('[chartledger\n', "not valid TOML"),
])
def test_bad_configuration_is_refused_with_a_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, text))


def test_rendered_configuration_loads_back(tmp_path):
    settings = Settings(landing_root=tmp_path / "landing", warehouse_path=tmp_path / "w.duckdb",
                        facilities=("NORTH", "SOUTH"), thresholds=Thresholds(charge_window_days=4))
    again = load_settings(_write(tmp_path, render_settings(settings)))
    assert again.facilities == ("NORTH", "SOUTH")
    assert again.thresholds == settings.thresholds
    assert set(again.feeds) == {
        "adt", "charges", "procedures", "med_administrations", "case_supplies",
        "cabinet_transactions", "inventory_transactions", "item_master", "gl_journal_lines",
        "cost_centers", "chargemaster", "department_map", "billing_accounts", "timecards"}


@pytest.mark.parametrize("name", ["charges", "staging_2"])
def test_identifiers_accepted(name):
    assert validate_identifier(name, "table") == name


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "x; DROP TABLE y", 'a"b'])
def test_identifiers_refused(name):
    with pytest.raises(ConfigError):
        validate_identifier(name, "table")
