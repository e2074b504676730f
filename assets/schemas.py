"""Column schemas for the UI (dagster/column_schema), read from the DDL itself.

The DDL of sql/ddl and the canonical views are applied to an in-memory DuckDB once at load time;
column types come from its catalogue and descriptions from sql/publish/dictionary.toml where the
table is published, so the UI can never disagree with the warehouse.
"""

from functools import cache

import dagster as dg
import duckdb

from reconcile.pipeline import refresh_canonical
from reconcile.publish import load_dictionary
from reconcile.warehouse import apply_ddl


@cache
def _catalogue() -> dict[str, list[tuple[str, str, bool]]]:
    con = duckdb.connect(":memory:")
    try:
        apply_ddl(con)
        refresh_canonical(con)
        rows = con.execute(
            "SELECT table_schema || '.' || table_name, column_name, data_type, is_nullable "
            "FROM information_schema.columns ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, data_type, nullable in rows:
        tables.setdefault(table, []).append((column, data_type, nullable == "YES"))
    return tables


@cache
def _descriptions() -> dict[str, dict[str, str]]:
    return {t.name: t.columns for t in load_dictionary()}


def table_schema(table: str) -> dg.TableSchema:
    """The columns of `schema.table` as Dagster shows them."""
    columns = _catalogue()[table]
    described = _descriptions().get(table, {})
    return dg.TableSchema(columns=[
        dg.TableColumn(name, data_type.lower(), description=described.get(name),
                       constraints=dg.TableColumnConstraints(nullable=nullable))
        for name, data_type, nullable in columns
    ])


def table_metadata(table: str) -> dict[str, object]:
    """Definition metadata naming the table and its column schema."""
    return {"dagster/table_name": table, "dagster/column_schema": table_schema(table)}
