"""Which statements of sql/recon/prepare_*.sql an evaluation needs: the temp tables its rules read.

Every prepare statement creates one temp table (`CREATE OR REPLACE TEMP TABLE name AS ...`). A
table is needed when a selected rule's SQL, or the SQL of a needed table, names it; the others are
not built. With the whole catalogue every table is needed; a site that runs a subset of the rules
(or a benchmark of the charge-capture rules) does not pay for the pharmacy or ledger tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from reconcile.sqlfiles import load_sql, split_statements, sql_dir

_CREATES = re.compile(r"^\s*CREATE\s+OR\s+REPLACE\s+TEMP\s+TABLE\s+(\w+)", re.IGNORECASE)
_WORD = re.compile(r"\b\w+\b")


@dataclass(frozen=True)
class PrepareStatement:
    table: str
    sql: str


def strip_comments(sql: str) -> str:
    """The code of `sql` without `--` line comments (names in comments are not dependencies)."""
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def prepare_statements(files: Iterable[str] | None = None) -> list[PrepareStatement]:
    """The statements of the prepare files (default: sql/recon/prepare_*.sql, in name order)."""
    names = files if files is not None else [
        f"recon/{p.name}" for p in sorted((sql_dir() / "recon").glob("prepare_*.sql"))]
    out = []
    for name in names:
        for statement in split_statements(load_sql(name)):
            code = strip_comments(statement)
            match = _CREATES.match(code)
            if not match:
                raise ValueError(f"sql/{name}: every prepare statement must create one temp "
                                 f"table; found: {code.strip()[:60]}")
            out.append(PrepareStatement(match.group(1).lower(), statement))
    return out


def names_in(sql: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(strip_comments(sql))}


def needed_statements(statements: list[PrepareStatement],
                      readers: Iterable[str]) -> list[PrepareStatement]:
    """The statements whose tables `readers` (SQL texts) need, directly or through another
    needed table, in their original order."""
    tables = {s.table for s in statements}
    by_table = {s.table: s for s in statements}
    wanted: set[str] = set()
    pending = set()
    for sql in readers:
        pending |= names_in(sql) & tables
    while pending:
        table = pending.pop()
        if table in wanted:
            continue
        wanted.add(table)
        pending |= (names_in(by_table[table].sql) & tables) - wanted - {table}
    return [s for s in statements if s.table in wanted]


def tables_read(sql: str, statements: list[PrepareStatement]) -> set[str]:
    """The prepared temp tables that `sql` names."""
    return names_in(sql) & {s.table for s in statements}
