"""The [sla] section and the site's time zone in the configuration file."""

import datetime as dt

import pytest

from reconcile.config import ConfigError, load_settings, render_settings

BASE = '[chartledger]\nlanding_root = "l"\nwarehouse = "w.duckdb"\n'


def _load(tmp_path, text: str):
    path = tmp_path / "chartledger.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return load_settings(path)


def test_deadlines_and_time_zone_are_read(tmp_path):
    settings = _load(tmp_path, 'timezone = "America/Chicago"\n[sla]\ngl_journal_lines = "01:45"\n'
                               "lookback_days = 2\n")
    assert settings.timezone == "America/Chicago"
    assert settings.sla.expected_time("gl_journal_lines") == dt.time(1, 45)
    assert settings.sla.expected_time("adt") == dt.time(0, 30)  # default kept
    assert settings.sla.lookback_days == 2
    assert 'timezone = "America/Chicago"' in render_settings(settings)


@pytest.mark.parametrize(("text", "message"), [
    ('timezone = "Mars/Olympus"\n', "not an IANA zone"),
    ('[sla]\nlabs = "01:00"\n', "not a known feed"),
    ('[sla]\nadt = "25:00"\n', "not a time"),
    ("[sla]\nlookback_days = -1\n", "lookback_days"),
])
def test_bad_settings_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)


def test_defaults_without_a_section(tmp_path):
    settings = _load(tmp_path, "")
    assert settings.timezone == "UTC" and settings.sla.expected_by == {}
