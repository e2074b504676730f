"""The close package as an Excel workbook: a cover sheet, then one sheet per section of the report."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reconcile.sqlfiles import query_sql_file

MONEY = "#,##0.00"
PERCENT = "0.00%"
NUMBER = "#,##0.00##"
COUNT = "#,##0"
DATE = "yyyy-mm-dd"
#: Number format of a KPI value by its unit; percent KPIs are stored as fractions (0.0425 = 4.25%).
UNIT_FORMATS = {"percent": PERCENT, "dollars": MONEY, "lines": COUNT}
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Column:
    """A result column: its header and kind (text, money, number, count, date, bool)."""

    name: str
    kind: str


@dataclass(frozen=True)
class Table:
    """Rows of one render query, with the columns as the SQL file names them."""

    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]

    def index(self, name: str) -> int:
        return [c.name for c in self.columns].index(name)


@dataclass(frozen=True)
class Section:
    """One section of the close package: a sheet in the workbook and a table in the HTML report."""

    sheet: str
    heading: str
    sql: str


SECTIONS = (
    Section("Checklist", "Close checklist", "report/render_checklist.sql"),
    Section("Revenue tie-out", "Revenue tie-out", "report/render_revenue_tieout.sql"),
    Section("Cut-off", "Revenue cut-off", "report/render_cutoff.sql"),
    Section("Unbilled accrual", "Unbilled revenue accrual", "report/render_unbilled.sql"),
    Section("Exceptions", "Exception summary", "report/render_exceptions.sql"),
    Section("KPIs", "KPIs", "report/render_kpis.sql"),
)
TREND_SQL = "report/render_kpi_trend.sql"
RUNS_SQL = "report/render_close_runs.sql"


def check_period(period: str) -> str:
    """The period if it is YYYY-MM (it names files), else ValueError."""
    if not _PERIOD.match(period):
        raise ValueError(f"period {period!r} is not YYYY-MM")
    return period


def column_kind(type_name: str) -> str:
    """How a DuckDB column type is shown: DECIMAL(p,2) is money, other decimals are numbers."""
    if type_name.startswith("DECIMAL"):
        return "money" if type_name.endswith(",2)") else "number"
    if type_name in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"):
        return "count"
    return {"DATE": "date", "BOOLEAN": "bool", "DOUBLE": "number", "FLOAT": "number"}.get(type_name, "text")


def read_table(con: duckdb.DuckDBPyConnection, sql: str, period: str) -> Table:
    """Run one render query of `sql/` for the period."""
    cursor = query_sql_file(con, sql, {"period": period})
    columns = tuple(Column(d[0], column_kind(str(d[1]))) for d in cursor.description)
    return Table(columns, cursor.fetchall())


def read_runs(con: duckdb.DuckDBPyConnection, period: str) -> Table:
    """report.close_runs of the period; LookupError when the close was never built."""
    runs = read_table(con, RUNS_SQL, check_period(period))
    if not runs.rows:
        raise LookupError(f"no close has been built for period {period} (report.close_runs is empty)")
    return runs


def system_ready(runs: Table) -> bool:
    """Ready to close for the system: the 'ALL' row, else every facility."""
    facility, ready = runs.index("Facility"), runs.index("Ready to close")
    system = [r[ready] for r in runs.rows if r[facility] == "ALL"]
    return bool(system[0]) if system else all(r[ready] for r in runs.rows)


def is_preliminary(runs: Table) -> bool:
    """True when any facility's close was built before the period's last day was reconciled."""
    return any(r[runs.index("Preliminary")] for r in runs.rows)


def pivot_trend(trend: Table) -> tuple[list[str], list[tuple[str, str, str, list[Decimal | None]]]]:
    """The long KPI trend as (periods, rows of facility, KPI, unit and one value per period)."""
    periods = sorted({r[3] for r in trend.rows})
    values: dict[tuple[str, str, str], dict[str, Decimal | None]] = {}
    for facility, kpi, unit, kpi_period, value in trend.rows:
        values.setdefault((facility, kpi, unit), {})[kpi_period] = value
    rows = [(*key, [by_period.get(p) for p in periods]) for key, by_period in values.items()]
    return periods, rows


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write` on a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_workbook(con: duckdb.DuckDBPyConnection, period: str, out_dir: Path) -> Path:
    """Write `close_<period>.xlsx` into `out_dir` (the period's folder, e.g. outputs/close/2026-10)."""
    runs = read_runs(con, period)
    wb = Workbook()
    _write_cover(wb.active, period, runs)
    for section in SECTIONS:
        _write_table(wb.create_sheet(section.sheet), read_table(con, section.sql, period))
    _write_trend(wb.create_sheet("Trend"), read_table(con, TREND_SQL, period))
    return atomic_write(Path(out_dir) / f"close_{period}.xlsx", wb.save)


def _write_cover(ws: Worksheet, period: str, runs: Table) -> None:
    """Period, run, as-of date and ready-to-close, with a PRELIMINARY banner when so."""
    ws.title = "Cover"
    ws["A1"] = f"ChartLedger month-end close {period}"
    ws["A1"].font = Font(bold=True, size=14)
    column = {c.name: i for i, c in enumerate(runs.columns)}
    facts = [
        ("Period", period),
        ("Run", ", ".join(sorted({r[column["Built by run"]] for r in runs.rows}))),
        ("As of date", min(r[column["As of date"]] for r in runs.rows)),
        ("Ready to close", "yes" if system_ready(runs) else "no"),
        ("Status", "PRELIMINARY" if is_preliminary(runs) else "final"),
    ]
    for offset, (label, value) in enumerate(facts):
        ws.cell(4 + offset, 1, label).font = Font(bold=True)
        _set(ws.cell(4 + offset, 2), value, "date" if isinstance(value, dt.date) else "text")
    first = 4 + len(facts) + 1
    for j, col in enumerate(runs.columns, start=1):
        ws.cell(first, j, col.name).font = Font(bold=True)
    for i, row in enumerate(runs.rows, start=first + 1):
        for j, (col, value) in enumerate(zip(runs.columns, row, strict=True), start=1):
            shown = ("yes" if value else "no") if col.kind == "bool" else value
            _set(ws.cell(i, j), shown, col.kind if col.kind != "bool" else "text")
    _fit_widths(ws, first_row=3)
    if is_preliminary(runs):
        ws["A2"] = "PRELIMINARY: built before the period's last day was reconciled"
        ws["A2"].font = Font(bold=True, color="FFFFFF")
        ws["A2"].fill = PatternFill("solid", fgColor="C00000")
        ws.merge_cells("A2:E2")


def _write_table(ws: Worksheet, table: Table) -> None:
    """Header row and rows; a KPI 'Value' takes the format of the row's 'Unit'."""
    ws.append([c.name for c in table.columns])
    unit = table.index("Unit") if "Unit" in [c.name for c in table.columns] else None
    for i, row in enumerate(table.rows, start=2):
        for j, (col, value) in enumerate(zip(table.columns, row, strict=True), start=1):
            fmt = UNIT_FORMATS.get(row[unit], NUMBER) if unit is not None and col.name == "Value" else None
            _set(ws.cell(i, j), value, col.kind, fmt)
    _finish_sheet(ws)


def _write_trend(ws: Worksheet, trend: Table) -> None:
    """The KPIs with one column per period, each cell formatted by the KPI's unit."""
    periods, rows = pivot_trend(trend)
    ws.append(["Facility", "KPI", "Unit", *periods])
    for i, (facility, kpi, unit, values) in enumerate(rows, start=2):
        for j, value in enumerate([facility, kpi, unit], start=1):
            ws.cell(i, j, value)
        for j, value in enumerate(values, start=4):
            _set(ws.cell(i, j), value, "number", UNIT_FORMATS.get(unit, NUMBER))
    _finish_sheet(ws)


def _set(cell: Any, value: Any, kind: str, number_format: str | None = None) -> None:
    """Store a value (money stays Decimal) with the number format of its kind."""
    cell.value = value
    fmt = number_format or {"money": MONEY, "number": NUMBER, "count": COUNT, "date": DATE}.get(kind)
    if fmt and value is not None:
        cell.number_format = fmt
    if kind in ("money", "number", "count"):
        cell.alignment = Alignment(horizontal="right")


def _finish_sheet(ws: Worksheet) -> None:
    """Bold frozen header row, autofilter over the data and column widths that fit."""
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    _fit_widths(ws)


def _fit_widths(ws: Worksheet, first_row: int = 1) -> None:
    """Each column as wide as its longest shown value from `first_row` on, between 8 and 60 characters."""
    widths: dict[int, int] = {}
    for row in ws.iter_rows(min_row=first_row):
        for cell in row:
            if cell.value is not None:
                room = 4 if cell.row == first_row else 0  # a header's filter button
                widths[cell.column] = max(widths.get(cell.column, 0), len(_shown(cell.value)) + room)
    for column, width in widths.items():
        ws.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 8), 60)


def _shown(value: Any) -> str:
    """Roughly how a value looks in its cell, for sizing the column."""
    if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
        return f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    return str(value)
