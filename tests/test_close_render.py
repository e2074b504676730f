"""The close package renderers: the workbook read back with openpyxl, the HTML as text and in Chromium."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from reconcile.close.render_excel import write_workbook
from reconcile.close.render_html import write_html
from reconcile.warehouse import Warehouse

PERIOD = "2026-10"
RUN = "run-20261029T020000"
AS_OF = dt.date(2026, 10, 28)
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
D = Decimal

CLOSE_RUNS = [  # facility, preliminary, ready_to_close
    ("ALL", True, False), ("NORTH", True, True), ("SOUTH", True, False),
]
CHECKLIST = [  # facility, reconciliation, side_a, amount_a, side_b, amount_b, difference, threshold,
    # open_exceptions, open_dollars, blocking_checks_passed, status, row_ok
    ("NORTH", "charge capture", "charges <posted> & mapped", D("125000.50"), "documented", D("125000.50"),
     D("0.00"), D("100.00"), 0, D("0.00"), True, "tied", True),
    ("SOUTH", "revenue to GL", "charges posted", D("98765.43"), "GL revenue", D("98000.00"),
     D("765.43"), D("100.00"), 2, D("765.43"), True, "variance", False),
    ("ALL", "revenue to GL", "charges posted", D("223765.93"), "GL revenue", D("223000.50"),
     D("765.43"), D("100.00"), 2, D("765.43"), True, "variance", False),
]
TIEOUT = [  # facility, cost_center, natural_account, post_date, posted, gl, difference
    ("NORTH", "6010", "40100", dt.date(2026, 10, 1), D("1000.00"), D("1000.00"), D("0.00")),
    ("SOUTH", "7020", "40200", dt.date(2026, 10, 2), D("500.00"), D("650.25"), D("-150.25")),
    ("SOUTH", "7020", "40200", dt.date(2026, 10, 3), D("820.10"), D("500.00"), D("320.10")),
    ("ALL", None, None, dt.date(2026, 10, 1), D("1000.00"), D("1000.00"), D("0.00")),
    ("ALL", None, None, dt.date(2026, 10, 2), D("500.00"), D("650.25"), D("-150.25")),
    ("ALL", None, None, dt.date(2026, 10, 3), D("820.10"), D("500.00"), D("320.10")),
]
CUTOFF = [  # facility, direction, lines, amount
    ("NORTH", "served_in_period_posted_after", 3, D("1234.56")),
    ("ALL", "served_in_period_posted_after", 3, D("1234.56")),
]
UNBILLED = [  # facility, patient_class, state, visits, gross_charges
    ("NORTH", "I", "in house", 2, D("45678.90")),
    ("SOUTH", "O", "discharged not final billed", 1, D("2345.67")),
    ("ALL", "ALL", "all", 3, D("48024.57")),
]
EXCEPTIONS = [  # facility, rule_id, owner, open_count, open_dollars, 5 aging buckets, opened, resolved
    ("NORTH", "MISSING_CHARGE", "Revenue integrity", 5, D("5432.10"), 2, 1, 1, 0, 1, 6, 1),
    ("SOUTH", "PRICE_MISMATCH", "Charge master", 3, D("210.00"), 0, 0, 1, 2, 0, 3, 0),
    ("ALL", "MISSING_CHARGE", "Revenue integrity", 5, D("5432.10"), 2, 1, 1, 0, 1, 6, 1),
    ("ALL", "PRICE_MISMATCH", "Charge master", 3, D("210.00"), 0, 0, 1, 2, 0, 3, 0),
]
KPIS = [  # facility, kpi, value, numerator, denominator, unit, source
    ("ALL", "late_charges_pct_of_gross", D("0.0425"), D("4250"), D("100000"), "percent", "charge lines"),
    ("ALL", "charge_lag_mean_days", D("2.5"), D("250"), D("100"), "days", "charge lines"),
    ("NORTH", "missed_charge_dollars", D("5432.10"), D("5432.10"), None, "dollars", "exceptions"),
]
TREND = [  # facility, kpi_period, kpi, value, unit
    *(("ALL", p, "late_charges_pct_of_gross", D(v), "percent")
      for p, v in (("2026-08", "0.05"), ("2026-09", "0.045"), ("2026-10", "0.0425"))),
    *(("ALL", p, "charge_lag_mean_days", D(v), "days")
      for p, v in (("2026-08", "3.1"), ("2026-09", "2.8"), ("2026-10", "2.5"))),
    ("NORTH", "2026-10", "missed_charge_dollars", D("5432.10"), "dollars"),
]
LAG = [("ALL", lag, n, D(n) * 100) for lag, n in ((0, 40), (1, 25), (2, 12), (3, 6), (5, 3), (31, 2))]
SECTION_TITLES = ["Summary", "Close checklist", "Exceptions by rule and age", "Charge lag distribution",
                  "Tie-out difference by day", "KPI trends", "Revenue tie-out", "Revenue cut-off",
                  "Unbilled revenue accrual", "Exception summary", "KPIs", "KPI trend"]


def _insert(con, table: str, rows: list[tuple]) -> None:
    marks = ", ".join(["?"] * (len(rows[0]) + 1))
    con.executemany(f"INSERT INTO report.{table} VALUES ({marks})", [(PERIOD, *r) for r in rows])


def _fill(con, close_runs: list[tuple]) -> None:
    """The report tables of one period for NORTH, SOUTH and the system ('ALL')."""
    _insert(con, "close_runs", [(f, p, r, AS_OF, RUN) for f, p, r in close_runs])
    for table, rows in (("close_checklist", CHECKLIST), ("revenue_tieout", TIEOUT),
                        ("revenue_cutoff", CUTOFF), ("unbilled_accrual", UNBILLED),
                        ("exception_summary", EXCEPTIONS), ("kpis", KPIS), ("kpi_trend", TREND),
                        ("charge_lag_distribution", LAG)):
        _insert(con, table, rows)


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> tuple[Path, Path]:
    """The workbook and HTML page rendered from the hand-written report rows."""
    tmp = tmp_path_factory.mktemp("close")
    w = Warehouse(tmp / "w.duckdb")
    w.ensure_schema()
    out_dir = tmp / "outputs" / "close" / PERIOD
    with w.writer() as con:
        _fill(con, CLOSE_RUNS)
        return write_workbook(con, PERIOD, out_dir), write_html(con, PERIOD, out_dir)


def _rows(ws) -> list[dict]:
    header = [c.value for c in ws[1]]
    return [dict(zip(header, row, strict=True)) for row in ws.iter_rows(min_row=2, values_only=True)]


def _cell(ws, row: int, header: str):
    return ws.cell(row, [c.value for c in ws[1]].index(header) + 1)


# --- the workbook -----------------------------------------------------------------------------

def test_workbook_has_every_sheet_with_a_frozen_bold_filtered_header(package):
    xlsx, _ = package
    assert xlsx.name == f"close_{PERIOD}.xlsx" and xlsx.parent.name == PERIOD
    assert sorted(p.name for p in xlsx.parent.iterdir()) == ["close_2026-10.html", "close_2026-10.xlsx"]
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["Cover", "Checklist", "Revenue tie-out", "Cut-off", "Unbilled accrual",
                             "Exceptions", "KPIs", "Trend"]
    for ws in wb.worksheets[1:]:
        assert ws.freeze_panes == "A2", ws.title
        assert all(c.font.bold for c in ws[1]), ws.title
        assert ws.auto_filter.ref == ws.dimensions, ws.title
        assert all(ws.column_dimensions[c.column_letter].width >= 8 for c in ws[1]), ws.title


def test_cover_says_period_run_ready_to_close_and_preliminary(package):
    ws = load_workbook(package[0])["Cover"]
    cells = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    assert "PRELIMINARY" in str(cells)
    assert cells["Period"] == PERIOD and cells["Run"] == RUN
    assert cells["As of date"].date() == AS_OF and cells["Ready to close"] == "no"
    ready = {f: cells[f] for f in ("ALL", "NORTH", "SOUTH")}
    assert ready == {"ALL": "no", "NORTH": "yes", "SOUTH": "no"}


def test_money_cells_keep_their_values_with_a_money_format(package):
    wb = load_workbook(package[0])
    checklist = wb["Checklist"]
    rows = _rows(checklist)
    assert [(r["Facility"], r["Reconciliation"]) for r in rows] == [
        ("ALL", "revenue to GL"), ("NORTH", "charge capture"), ("SOUTH", "revenue to GL")]
    south = next(r for r in rows if r["Facility"] == "SOUTH")
    assert (D(str(south["Amount A"])), D(str(south["Difference"]))) == (D("98765.43"), D("765.43"))
    assert south["Row OK"] is False and south["Status"] == "variance"
    for header in ("Amount A", "Amount B", "Difference", "Threshold", "Open dollars"):
        assert _cell(checklist, 2, header).number_format == "#,##0.00", header
    tieout = wb["Revenue tie-out"]
    assert _cell(tieout, 2, "Posted charges").number_format == "#,##0.00"
    assert sorted((r["Facility"], r["Post date"].date(), D(str(r["Difference"]))) for r in _rows(tieout)) \
        == sorted((f, d, diff) for f, _cc, _acct, d, _p, _g, diff in TIEOUT)


def test_every_section_reads_back_as_inserted(package):
    wb = load_workbook(package[0])
    exceptions = [tuple(D(str(v)) if isinstance(v, float) else v for v in r.values())
                  for r in _rows(wb["Exceptions"])]
    assert sorted(exceptions) == sorted(EXCEPTIONS)
    assert sorted(tuple(r.values()) for r in _rows(wb["Unbilled accrual"])) == sorted(
        (f, c, s, n, float(g)) for f, c, s, n, g in UNBILLED)
    assert sorted(tuple(r.values()) for r in _rows(wb["Cut-off"])) == sorted(
        (f, d, n, float(a)) for f, d, n, a in CUTOFF)
    assert _cell(wb["Cut-off"], 2, "Amount").number_format == "#,##0.00"


def test_percent_kpis_hold_the_fraction_with_a_percent_format(package):
    wb = load_workbook(package[0])
    kpis = wb["KPIs"]
    rows = _rows(kpis)
    at = next(i for i, r in enumerate(rows, start=2) if r["KPI"] == "late_charges_pct_of_gross")
    value = _cell(kpis, at, "Value")
    assert value.value == pytest.approx(0.0425) and value.number_format == "0.00%"
    dollars = next(i for i, r in enumerate(rows, start=2) if r["KPI"] == "missed_charge_dollars")
    assert _cell(kpis, dollars, "Value").number_format == "#,##0.00"
    trend = wb["Trend"]
    assert [c.value for c in trend[1]] == ["Facility", "KPI", "Unit", "2026-08", "2026-09", "2026-10"]
    late = next(i for i, r in enumerate(_rows(trend), start=2) if r["KPI"] == "late_charges_pct_of_gross")
    assert [trend.cell(late, c).value for c in (4, 5, 6)] == pytest.approx([0.05, 0.045, 0.0425])
    assert trend.cell(late, 6).number_format == "0.00%"


# --- the HTML page --------------------------------------------------------------------------------

def test_html_is_self_contained_with_every_section_and_figure(package):
    page = package[1].read_text(encoding="utf-8")
    assert package[1].name == f"close_{PERIOD}.html"
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in page, title
    assert "NOT READY TO CLOSE" in page and "PRELIMINARY" in page
    for figure in ("125,000.50", "98,765.43", "-150.25", "320.10", "1,234.56", "45,678.90", "5,432.10",
                   "4.25%", "2.50", RUN, "MISSING_CHARGE", "PRICE_MISMATCH", "Revenue integrity"):
        assert figure in page, figure
    assert "charges &lt;posted&gt; &amp; mapped" in page and "<posted>" not in page
    for chart_id in ("chart-exceptions", "chart-charge-lag", "chart-tieout",
                     "chart-kpi-late-charges-pct-of-gross", "chart-kpi-charge-lag-mean-days"):
        assert f'id="{chart_id}" class="chart"' in page, chart_id


def test_a_final_ready_close_has_no_preliminary_banner(tmp_path):
    w = Warehouse(tmp_path / "w.duckdb")
    w.ensure_schema()
    with w.writer() as con:
        _fill(con, [(f, False, True) for f, _, _ in CLOSE_RUNS])
        xlsx, page = write_workbook(con, PERIOD, tmp_path), write_html(con, PERIOD, tmp_path)
    cover = load_workbook(xlsx)["Cover"]
    texts = [str(c.value) for row in cover.iter_rows() for c in row if c.value is not None]
    assert not any("PRELIMINARY" in t for t in texts) and "yes" in texts
    html = page.read_text(encoding="utf-8")
    assert "READY TO CLOSE" in html and "NOT READY" not in html and "PRELIMINARY" not in html


def test_a_period_without_a_close_or_malformed_is_refused(tmp_path):
    w = Warehouse(tmp_path / "w.duckdb")
    w.ensure_schema()
    with w.writer() as con:
        with pytest.raises(LookupError, match="no close has been built"):
            write_workbook(con, PERIOD, tmp_path)
        with pytest.raises(ValueError, match="YYYY-MM"):
            write_html(con, "2026-13/../x", tmp_path)
    assert list(tmp_path.glob("close_*")) == []


# --- in headless Chromium ------------------------------------------------------------------------

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_html_renders_in_headless_chromium_with_charts_that_are_not_blank(package):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium): scripts/setup installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(package[1].resolve().as_uri(), wait_until="load")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"close_{PERIOD}.png"), full_page=True)
            charts = page.query_selector_all(".chart")
            assert len(charts) == 5
            for chart in charts:
                chart_id, box = chart.get_attribute("id"), chart.bounding_box()
                assert box and box["width"] >= 200 and box["height"] >= 60, chart_id
                share, colours = _ink(chart.screenshot())
                assert colours > 2 and share > 0.01, (chart_id, share, colours)
        finally:
            browser.close()
    assert requests and all(u.startswith(("file:", "data:", "about:")) for u in requests), requests


def _ink(png: bytes) -> tuple[float, int]:
    """Share of pixels that are not the white background, and the number of distinct colours."""
    width, height, channels, pixels = _decode_png(png)
    colours = {pixels[i:i + 3] for i in range(0, len(pixels), channels)}
    ink = sum(1 for i in range(0, len(pixels), channels) if pixels[i:i + 3] != b"\xff\xff\xff")
    return ink / (width * height), len(colours)


def _decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, channels and pixels of a non-interlaced 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        header = struct.unpack(">IIBBBBB", chunk) if kind == b"IHDR" else header
        idat += [chunk] if kind == b"IDAT" else []
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * channels
    out, prev = bytearray(), bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), prev, channels)
        out += line
        prev = line
    return width, height, channels, bytes(out)


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> bytearray:
    """Undo one scanline's PNG filter (None, Sub, Up, Average, Paeth)."""
    if kind == 2:
        return bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
    for i in range(len(line) if kind else 0):
        left = line[i - bpp] if i >= bpp else 0
        up, corner = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if kind == 1:
            predicted = left
        elif kind == 3:
            predicted = (left + up) // 2
        else:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            predicted = left if pa <= pb and pa <= pc else up if pb <= pc else corner
        line[i] = (line[i] + predicted) & 0xFF
    return line


def test_png_decoder_reads_what_zlib_and_struct_write():
    """The little decoder of the screenshot check, on a 2x2 RGB image with Sub and Paeth rows."""
    rows = [b"\x01" + bytes([255, 0, 0, 0, 255, 0]), b"\x04" + bytes([0, 0, 255, 255, 1, 0])]
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows))) \
        + chunk(b"IEND", b"")
    assert _decode_png(png) == (2, 2, 3, bytes([255, 0, 0, 255, 255, 0, 255, 0, 255, 254, 0, 255]))
