"""Secrets come from the environment or from files only their owner can read; never from TOML."""

from __future__ import annotations

import logging

import pytest

from reconcile.secrets import SecretError, check_no_inline_secrets, read_secret

VALUE = "s3cr3t-Value-9f1c"


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    path = tmp_path / "token"
    path.write_text("from-file\n")
    path.chmod(0o600)
    monkeypatch.setenv("CL_TEST_TOKEN", VALUE)
    assert read_secret("CL_TEST_TOKEN", path) == VALUE
    monkeypatch.delenv("CL_TEST_TOKEN")
    assert read_secret("CL_TEST_TOKEN", path) == "from-file"


def test_private_file_is_read_without_warning(tmp_path, caplog):
    path = tmp_path / "token"
    path.write_text(VALUE + "\r\n")
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        assert read_secret(file=path) == VALUE
    assert caplog.records == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o606, 0o620])
def test_group_or_world_accessible_file_warns_without_the_value(tmp_path, caplog, mode):
    path = tmp_path / "token"
    path.write_text(VALUE)
    path.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="reconcile.secrets"):
        assert read_secret(file=path, what="sftp ehr password") == VALUE
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(path) in message and f"{mode:04o}" in message and "chmod 600" in message
    assert VALUE not in caplog.text


def test_missing_empty_or_unreadable_secret_is_a_clear_error_without_a_value(tmp_path, monkeypatch):
    monkeypatch.delenv("CL_TEST_NOPE", raising=False)
    with pytest.raises(SecretError, match="CL_TEST_NOPE"):
        read_secret("CL_TEST_NOPE")
    with pytest.raises(SecretError, match="does not exist|No such file"):
        read_secret(file=tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(SecretError, match="empty"):
        read_secret(file=empty)
    with pytest.raises(SecretError, match="not a regular file"):
        read_secret(file=tmp_path)
    with pytest.raises(SecretError, match="no environment variable or file"):
        read_secret()
    monkeypatch.setenv("CL_TEST_EMPTY", "")
    with pytest.raises(SecretError):
        read_secret("CL_TEST_EMPTY")


def test_inline_secret_in_configuration_is_refused_but_references_are_fine():
    check_no_inline_secrets({"host": "sftp.example", "password_env": "EHR_PW",
                             "private_key_file": "/etc/cl/key", "token": ""}, "[channels.ehr]")
    for options in ({"password": "hunter2"}, {"api_key": "abc"}, {"auth": {"client_secret": "x"}}):
        with pytest.raises(SecretError) as info:
            check_no_inline_secrets(options, "[channels.ehr]")
        assert "hunter2" not in str(info.value) and "_env" in str(info.value)
