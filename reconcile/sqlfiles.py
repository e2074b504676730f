"""Load the SQL files of `sql/` and run them with bound parameters."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import duckdb


def sql_dir() -> Path:
    """The `sql/` folder: CHARTLEDGER_SQL_DIR if set, else the one beside this package."""
    override = os.environ.get("CHARTLEDGER_SQL_DIR")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "sql"


@cache
def load_sql(name: str) -> str:
    """Text of `sql/<name>` (e.g. `rules/missing_charge.sql`)."""
    path = sql_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {path} is missing")
    return path.read_text(encoding="utf-8")


@cache
def split_statements(script: str) -> list[str]:
    """Split a script on `;` outside quotes and comments; empty statements are dropped."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(script)
    quote: str | None = None
    while i < n:
        ch = script[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            buf.append(ch)
        elif script.startswith("--", i):
            end = script.find("\n", i)
            end = n if end < 0 else end
            buf.append(script[i:end])
            i = end
            continue
        elif script.startswith("/*", i):
            end = script.find("*/", i + 2)
            end = n if end < 0 else end + 2
            buf.append(script[i:end])
            i = end
            continue
        elif ch == ";":
            statements.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    statements.append("".join(buf))
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    lines = [ln.split("--", 1)[0].strip() for ln in statement.splitlines()]
    return any(lines)


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def bound_parameters(statement: str, params: dict[str, Any] | None) -> dict[str, Any] | None:
    """The subset of `params` that the statement's code (not its comments) refers to."""
    code = "\n".join(ln.split("--", 1)[0] for ln in statement.splitlines())
    names = set(_PARAM.findall(code))
    used = {k: v for k, v in (params or {}).items() if k in names}
    return used or None


def run_sql_file(
    con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None
) -> None:
    """Execute every statement of `sql/<name>`, binding only the parameters each one uses."""
    for statement in split_statements(load_sql(name)):
        con.execute(statement, bound_parameters(statement, params))


def query_sql_file(
    con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Execute a single-statement `sql/<name>` and return the cursor for fetching."""
    statements = split_statements(load_sql(name))
    if len(statements) != 1:
        raise ValueError(f"{name} must hold exactly one statement to be queried")
    return con.execute(statements[0], bound_parameters(statements[0], params))


def render_template(name: str, **identifiers: str) -> str:
    """`sql/<name>` with `{placeholders}` filled by validated identifiers (never by values)."""
    from reconcile.config import validate_identifier

    checked = {k: validate_identifier(v, k) for k, v in identifiers.items()}
    return load_sql(name).format(**checked)


def execute_template(con: duckdb.DuckDBPyConnection, name: str, identifiers: dict[str, str],
                     params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Run a single-statement template file with identifiers filled and values bound."""
    statements = split_statements(render_template(name, **identifiers))
    if len(statements) != 1:
        raise ValueError(f"{name} must hold exactly one statement")
    return con.execute(statements[0], bound_parameters(statements[0], params))
