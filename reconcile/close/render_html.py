"""The close package as one self-contained HTML page: inline CSS, charts as inline SVG, no network."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import duckdb

from reconcile.close.render_excel import (
    SECTIONS,
    TREND_SQL,
    Table,
    atomic_write,
    is_preliminary,
    pivot_trend,
    read_runs,
    read_table,
    system_ready,
)

AGE_BUCKETS = (("0-3 days", "#9ecae1"), ("4-7 days", "#4292c6"), ("8-14 days", "#fdae6b"),
               ("15-30 days", "#e6550d"), (">30 days", "#a50f15"))
BAR, POSITIVE, NEGATIVE, AXIS, INK = "#4292c6", "#2b8cbe", "#d7301f", "#888888", "#333333"
CHART_SQL = {
    "exceptions": "report/render_chart_exceptions_by_rule.sql",
    "lag": "report/render_chart_charge_lag.sql",
    "tieout": "report/render_chart_tieout_by_day.sql",
}
CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1180px;
       padding: 0 16px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 12px; } h2 { font-size: 18px; margin: 28px 0 8px;
     border-bottom: 2px solid #ddd; padding-bottom: 4px; }
.banner { padding: 10px 14px; font-weight: bold; font-size: 18px; margin: 8px 0; border-radius: 4px; }
.ready { background: #dff0d8; color: #2b6e2b; } .not-ready { background: #f8d7da; color: #8a1c24; }
.preliminary { background: #fff3cd; color: #7a5b00; border: 2px dashed #c99a00; }
.facts td { padding: 2px 12px 2px 0; }
table.data { border-collapse: collapse; font-size: 12px; margin: 4px 0 12px; }
table.data th { background: #f0f0f0; text-align: left; position: sticky; top: 0; }
table.data th, table.data td { border: 1px solid #ddd; padding: 3px 6px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.not-ok td { background: #fdecee; }
.chart { display: block; background: #fff; border: 1px solid #e3e3e3; margin: 6px 0; }
.small-multiples { display: flex; flex-wrap: wrap; gap: 8px; }
.small-multiples .chart { display: inline-block; }
.empty { color: #777; font-style: italic; }
"""


def write_html(con: duckdb.DuckDBPyConnection, period: str, out_dir: Path) -> Path:
    """Write `close_<period>.html` into `out_dir` (the period's folder, e.g. outputs/close/2026-10)."""
    page = render_page(con, period)
    return atomic_write(Path(out_dir) / f"close_{period}.html",
                        lambda tmp: tmp.write_text(page, encoding="utf-8"))


def render_page(con: duckdb.DuckDBPyConnection, period: str) -> str:
    """The whole page: summary, checklist, the charts, then every section's table."""
    runs = read_runs(con, period)
    tables = [(s.heading, read_table(con, s.sql, period)) for s in SECTIONS]
    trend = read_table(con, TREND_SQL, period)
    charts = {name: read_table(con, sql, period).rows for name, sql in CHART_SQL.items()}
    body = [
        f"<h1>ChartLedger month-end close {escape(period)}</h1>",
        _section("Summary", _summary(runs)),
        _section(tables[0][0], _table(tables[0][1])),
        _section("Exceptions by rule and age", exceptions_chart(charts["exceptions"])),
        _section("Charge lag distribution", lag_chart(charts["lag"])),
        _section("Tie-out difference by day", tieout_chart(charts["tieout"])),
        _section("KPI trends", kpi_trend_charts(trend)),
        *(_section(heading, _table(table)) for heading, table in tables[1:]),
        _section("KPI trend", _trend_table(trend)),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Close {escape(period)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


# --- text -------------------------------------------------------------------------------------

def fmt(value: Any, kind: str = "text", unit: str | None = None) -> str:
    """A value as shown in the report (not escaped); percent KPIs are fractions shown as %."""
    if value is None:
        return ""
    if unit == "percent":
        return f"{Decimal(value) * 100:,.2f}%"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "count":
        return f"{value:,}"
    if kind in ("money", "number") or isinstance(value, Decimal | float):
        return f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _section(title: str, content: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f'<section id="{escape(slug)}">\n<h2>{escape(title)}</h2>\n{content}\n</section>'


def _summary(runs: Table) -> str:
    """Ready to close or not, PRELIMINARY when so, and the close run of every facility."""
    ready = system_ready(runs)
    parts = [f'<div class="banner {"ready" if ready else "not-ready"}">'
             f'{"READY TO CLOSE" if ready else "NOT READY TO CLOSE"}</div>']
    if is_preliminary(runs):
        parts.append('<div class="banner preliminary">PRELIMINARY: built before the period\'s '
                     'last day was reconciled</div>')
    return "\n".join(parts) + "\n" + _table(runs)


def _table(table: Table) -> str:
    """An HTML table; a KPI 'Value' is formatted by the row's 'Unit', rows not OK are shaded."""
    names = [c.name for c in table.columns]
    unit = names.index("Unit") if "Unit" in names else None
    row_ok = names.index("Row OK") if "Row OK" in names else None
    if not table.rows:
        return '<p class="empty">No rows for this period.</p>'
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    lines = []
    for row in table.rows:
        cells = []
        for col, value in zip(table.columns, row, strict=True):
            shown = fmt(value, col.kind, row[unit] if unit is not None and col.name == "Value" else None)
            numeric = ' class="num"' if col.kind in ("money", "number", "count") else ""
            cells.append(f"<td{numeric}>{escape(shown)}</td>")
        shade = ' class="not-ok"' if row_ok is not None and row[row_ok] is False else ""
        lines.append(f"<tr{shade}>{''.join(cells)}</tr>")
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(lines) + \
        "\n</tbody></table>"


def _trend_table(trend: Table) -> str:
    """The KPI trend with one column per period."""
    periods, rows = pivot_trend(trend)
    if not rows:
        return '<p class="empty">No KPI trend for this period.</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in ["Facility", "KPI", "Unit", *periods])
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(t)}</td>" for t in (facility, kpi, unit))
        + "".join(f'<td class="num">{escape(fmt(v, "number", unit))}</td>' for v in values) + "</tr>"
        for facility, kpi, unit, values in rows)
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


# --- charts (inline SVG) ------------------------------------------------------------------------

def _svg(chart_id: str, width: int, height: int, label: str, body: list[str]) -> str:
    """An inline SVG chart of a fixed, visible size (no xmlns needed inside HTML)."""
    return (f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(label)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f"<title>{escape(label)}</title>" + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11,
          color: str = INK, bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" text-anchor="{anchor}"'
            f'{weight}>{escape(text)}</text>')


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str) -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{max(h, 0.0):.1f}" '
            f'fill="{color}"><title>{escape(tip)}</title></rect>')


def _line(x1: float, y1: float, x2: float, y2: float, color: str = AXIS) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}"/>'


def _no_data(chart_id: str, label: str, message: str) -> str:
    return _svg(chart_id, 720, 60, label, [_text(16, 36, message, size=13, color="#777")])


def _compact(x: float) -> str:
    """Short axis label: 1.2M, 3.4k, 12."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:,.1f}{suffix}"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def exceptions_chart(rows: list[tuple[Any, ...]]) -> str:
    """Stacked horizontal bars: the open exceptions of each rule by aging bucket."""
    label = "Open exceptions by rule and age"
    rows = [r for r in rows if sum(r[1:]) > 0]
    if not rows:
        return _no_data("chart-exceptions", label, "No open exceptions.")
    label_w, bar_w, row_h, top = 250, 400, 24, 36
    width, height = label_w + bar_w + 70, top + row_h * len(rows) + 8
    most = max(sum(r[1:]) for r in rows)
    body = [_legend(AGE_BUCKETS, label_w, 14)]
    for i, (rule, *counts) in enumerate(rows):
        y = top + i * row_h
        body.append(_text(label_w - 8, y + row_h / 2 + 4, str(rule), anchor="end"))
        x = float(label_w)
        for (bucket, color), n in zip(AGE_BUCKETS, counts, strict=True):
            w = bar_w * n / most
            if n:
                body.append(_rect(x, y + 3, w, row_h - 6, color, f"{rule} {bucket}: {n}"))
            x += w
        body.append(_text(x + 6, y + row_h / 2 + 4, f"{sum(counts):,}"))
    return _svg("chart-exceptions", width, height, label, body)


def _legend(items: tuple[tuple[str, str], ...], x: float, y: float) -> str:
    parts = []
    for name, color in items:
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="12" height="12" fill="{color}"/>')
        parts.append(_text(x + 16, y + 1, name))
        x += 24 + 7 * len(name)
    return "".join(parts)


def lag_chart(rows: list[tuple[Any, ...]]) -> str:
    """Vertical bars: charge lines by days from service to posting (31 = more than 30)."""
    label = "Charge lines by days from service to posting"
    lines = {int(lag): int(n) for lag, n, _amount in rows}
    if not any(lines.values()):
        return _no_data("chart-charge-lag", label, "No charges posted in the period.")
    left, top, plot_w, plot_h = 56, 14, 640, 200
    most, slot = max(lines.values()), plot_w / 32
    amounts = {int(lag): amount for lag, _n, amount in rows}
    ticks = [(most, top), (most / 2, top + plot_h / 2), (0, top + plot_h)]
    body = _value_axis(left, top, plot_w, plot_h, ticks)
    for lag in range(32):
        n = lines.get(lag, 0)
        h = plot_h * n / most
        name = ">30 days" if lag == 31 else f"{lag} days"
        body.append(_rect(left + lag * slot + 2, top + plot_h - h, slot - 4, h, BAR,
                          f"{name}: {n:,} lines, {fmt(amounts.get(lag), 'money')}"))
        if (lag % 5 == 0 and lag < 30) or lag == 31:
            body.append(_text(left + (lag + 0.5) * slot, top + plot_h + 16, ">30" if lag == 31 else str(lag),
                              anchor="middle"))
    body.append(_text(left + plot_w / 2, top + plot_h + 34, "days from service to posting", anchor="middle"))
    return _svg("chart-charge-lag", left + plot_w + 20, top + plot_h + 44, label, body)


def _value_axis(left: float, top: float, plot_w: float, plot_h: float,
                ticks: list[tuple[float, float]]) -> list[str]:
    """The vertical axis and baseline, with a light grid line and a label at each (value, y) tick."""
    parts = [_line(left, top, left, top + plot_h), _line(left, top + plot_h, left + plot_w, top + plot_h)]
    for value, y in ticks:
        parts.append(_line(left, y, left + plot_w, y, "#eeeeee"))
        parts.append(_text(left - 6, y + 4, _compact(value), anchor="end", size=10))
    return parts


def tieout_chart(rows: list[tuple[Any, ...]]) -> str:
    """Bars from zero: posted charges minus GL revenue per posting day, up blue, down red."""
    label = "Posted charges minus GL revenue by posting day"
    if not rows:
        return _no_data("chart-tieout", label, "No revenue tie-out rows for the period.")
    diffs = [(day, float(d or 0)) for day, d in rows]
    left, top, plot_w, plot_h = 72, 14, 620, 200
    high, low = max(0.0, *(d for _, d in diffs)), min(0.0, *(d for _, d in diffs))
    tied = high == low == 0.0
    high = 1.0 if tied else high
    zero, slot = top + plot_h * high / (high - low), plot_w / len(diffs)
    span = high - low
    ticks = [(0.0, zero)] + [(v, y) for v, y in ((high, top), (low, top + plot_h)) if abs(y - zero) >= 14]
    body = _value_axis(left, top, plot_w, plot_h, ticks)
    body.append(_line(left, zero, left + plot_w, zero, INK))
    for i, (day, d) in enumerate(diffs):
        h = plot_h * abs(d) / span
        y = zero - h if d >= 0 else zero
        body.append(_rect(left + i * slot + 1, y, max(slot - 2, 1.0), h, POSITIVE if d >= 0 else NEGATIVE,
                          f"{day}: {d:,.2f}"))
        if len(diffs) <= 12 or i % max(len(diffs) // 10, 1) == 0:
            body.append(_text(left + (i + 0.5) * slot, top + plot_h + 16, f"{day:%d %b}", anchor="middle",
                              size=10))
    if tied:
        body.append(_text(left + plot_w / 2, top + 30, "Every day tied (difference 0.00)", anchor="middle"))
    return _svg("chart-tieout", left + plot_w + 20, top + plot_h + 30, label, body)


def kpi_trend_charts(trend: Table) -> str:
    """One small line chart per KPI of the system (facility 'ALL') over the trend periods."""
    periods, rows = pivot_trend(trend)
    system = [r for r in rows if r[0] == "ALL"]
    if not system:
        return _no_data("chart-kpi-trend", "KPI trends", "No KPI trend for the system.")
    charts = [_kpi_chart(kpi, unit, periods, values) for _, kpi, unit, values in system]
    return '<div class="small-multiples">' + "".join(charts) + "</div>"


def _kpi_chart(kpi: str, unit: str, periods: list[str], values: list[Decimal | None]) -> str:
    """A small line chart of one KPI: a point per period, the latest value under the name."""
    width, height, left, top, plot_w, plot_h = 270, 140, 12, 44, 246, 70
    label = f"{kpi} ({unit}) by period"
    chart_id = "chart-kpi-" + re.sub(r"[^a-z0-9]+", "-", kpi.lower()).strip("-")
    points = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    body = [_text(left, 15, kpi if len(kpi) <= 35 else kpi[:34] + "\u2026", size=11, bold=True)]
    if not points:
        body.append(_text(left, 60, "no values", color="#777"))
        return _svg(chart_id, width, height, label, body)
    last = values[points[-1][0]]
    body.append(_text(left, 32, f"{fmt(last, 'number', unit)} in {periods[points[-1][0]]}", bold=True,
                      color=BAR))
    coords = _trend_coords(points, len(periods), left, top, plot_w, plot_h)
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h, "#dddddd"))
    body.append(f'<polyline fill="none" stroke="{BAR}" stroke-width="2" points="'
                + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
    for (i, _), (x, y) in zip(points, coords, strict=True):
        tip = escape(f"{periods[i]}: {fmt(values[i], 'number', unit)}")
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{BAR}"><title>{tip}</title></circle>')
    body.append(_text(left, height - 8, periods[0], size=9, color="#777"))
    if len(periods) > 1:
        body.append(_text(left + plot_w, height - 8, periods[-1], anchor="end", size=9, color="#777"))
    return _svg(chart_id, width, height, label, body)


def _trend_coords(points: list[tuple[int, float]], slots: int, left: float, top: float,
                  plot_w: float, plot_h: float) -> list[tuple[float, float]]:
    """Positions of (period index, value) points; a flat or single-period series sits mid-height."""
    high, low = max(v for _, v in points), min(v for _, v in points)
    step = plot_w / (slots - 1) if slots > 1 else 0.0
    x0 = left if slots > 1 else left + plot_w / 2
    return [(x0 + i * step, top + plot_h / 2 if high == low else top + plot_h * (high - v) / (high - low))
            for i, v in points]
