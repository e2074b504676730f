"""Secrets (passwords, tokens, keys) come from the environment or from files only readable by us.

A channel names where its secret lives (`password_env = "EHR_SFTP_PASSWORD"` or `password_file =
"/etc/chartledger/ehr.key"`) and calls `read_secret`; the value is never logged, never put in an
error message and never read from the TOML configuration (`check_no_inline_secrets`).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconcile.config import ConfigError

log = logging.getLogger(__name__)

# Option names that would hold a secret value themselves (their `_env` / `_file` forms are fine).
SECRET_WORDS = ("password", "passphrase", "secret", "token", "api_key", "apikey", "private_key",
                "client_secret", "credential")


class SecretError(ConfigError):
    """A secret that cannot be read; the message names where it was looked for, never a value."""


def read_secret(env_name: str | None = None, file: str | Path | None = None,
                what: str = "secret") -> str:
    """The secret from environment variable `env_name` if set, else from `file`.

    A file readable or writable by group or others is still read, with a warning naming the file
    and its mode (chmod 600 it); a missing or empty secret raises SecretError.
    """
    if env_name:
        value = os.environ.get(env_name)
        if value:
            return value
    if file:
        return _read_secret_file(Path(file).expanduser(), what)
    where = " or ".join(p for p in (
        f"environment variable {env_name}" if env_name else "",
        f"file {file}" if file else "") if p)
    raise SecretError(f"{what}: nothing found in {where}" if where
                      else f"{what}: no environment variable or file named to read it from")


def _read_secret_file(path: Path, what: str) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise SecretError(f"{what}: cannot read secret file {path} ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(f"{what}: secret file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        log.warning("%s: secret file %s has mode %04o (readable or writable by group or others); "
                    "restrict it with: chmod 600 %s", what, path, mode, path)
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SecretError(f"{what}: cannot read secret file {path} ({reason})") from None
    if not value:
        raise SecretError(f"{what}: secret file {path} is empty")
    return value


def is_group_or_world_accessible(path: str | Path) -> bool:
    """True when `path` grants any permission to group or others."""
    return bool(stat.S_IMODE(Path(path).stat().st_mode) & 0o077)


def check_no_inline_secrets(options: Mapping[str, Any], where: str) -> None:
    """Refuse a configuration table that holds a secret value itself (`password = "..."`):
    name an environment variable (`password_env`) or a file (`password_file`) instead."""
    for key, value in options.items():
        name = key.lower()
        if name.endswith(("_env", "_file")):
            continue
        if isinstance(value, Mapping):
            check_no_inline_secrets(value, f"{where}.{key}")
        elif any(word in name for word in SECRET_WORDS) and value not in (None, ""):
            raise SecretError(f"{where}: {key} must not hold a secret in the configuration file; "
                              f"use {key}_env (an environment variable) or {key}_file (a file "
                              "readable only by the ChartLedger user)")
