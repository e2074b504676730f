"""Charge-capture reconciliation against baselines on the same data (issue 8).

The data is bench/rule_runner.py's: one as-of date, N charge lines (staging.charges) against
about N documented procedures (staging.procedures) in the 14-day window, with planted missing
charges, undocumented charges, quantity mismatches and duplicate lines (and credit-and-repost
pairs, which are not defects). The two sides are also exported to Parquet for the dataframe
baselines. Each measurement runs in a child process of its own (peak RSS = that child's
ru_maxrss, Python and imports included):

  pandas            read both Parquet files, aggregate each side by key (facility, visit, CDM code,
                    service date; net quantity = CG - CD), merge(how="outer", indicator=True),
                    classify missing (documented only, older than the charge window) /
                    undocumented (charged only) / quantity mismatch (both, quantities differ)
  datacompy-pandas  the same aggregates compared by datacompy.PandasCompare on the key; classes
                    from df2_unq_rows / df1_unq_rows / all_mismatch()
  datacompy-polars  the same with polars and datacompy.PolarsCompare
  duckdb-floor      bench/rule_runner.py's floor: a bare DuckDB FULL OUTER JOIN of the two sides
                    aggregated by key, into a temp table, plus the count of differing keys
  chartledger       the recon prepare step and the charge-capture rules MISSING_CHARGE,
                    UNDOCUMENTED_CHARGE, CHARGE_QTY_MISMATCH, DUPLICATE_CHARGE through
                    reconcile.rules.evaluate_day with that catalogue subset (findings, match
                    evidence and the exception lifecycle included, as every night)

Every baseline's classes are counted against what was planted. Run from the repository root:

    .venv/bin/python bench/baselines.py --rows 1000000 10000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import scale_kit as kit  # noqa: E402

KEY = ["facility", "visit_number", "cdm_code", "service_date"]
CLASSES = ("MISSING_CHARGE", "UNDOCUMENTED_CHARGE", "CHARGE_QTY_MISMATCH", "DUPLICATE_CHARGE")
CHARGE_RULES = CLASSES
METHODS = ("duckdb-floor", "chartledger", "pandas", "datacompy-polars", "datacompy-pandas")
TARGETS = {"duckdb-floor": ("<=", 2.0), "pandas": (">=", 3.0), "datacompy-polars": (">=", 2.0),
           "datacompy-pandas": (">=", 8.0)}


def section_heading(rows: int) -> str:
    return f"## Charge-capture baselines at {rows:,} charge lines (issue 8)"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

CHARGES_SQL = """
COPY (SELECT facility, visit_number, cdm_code, service_date, txn_type,
             CAST(quantity AS DOUBLE) AS quantity, transaction_id
      FROM staging.charges) TO '{path}' (FORMAT parquet)
"""
DOCUMENTED_SQL = """
COPY (SELECT facility, visit_number, cdm_code, CAST(performed_at AS DATE) AS service_date,
             status, resource_id
      FROM staging.procedures) TO '{path}' (FORMAT parquet)
"""


def build(work: Path, rows: int, args: argparse.Namespace) -> dict:
    """The rule runner's warehouse with `rows` charge lines, and the two sides as Parquet."""
    import duckdb
    import rule_runner

    db = work / f"baselines_{rows}.duckdb"
    ns = argparse.Namespace(gen_memory_limit=args.gen_memory_limit, threads=args.threads,
                            work=work)
    data = rule_runner.build_warehouse(db, rows, ns)
    con = duckdb.connect(str(db))
    try:
        con.execute(f"SET memory_limit = '{args.gen_memory_limit}'")
        charges, documented = work / f"charges_{rows}.parquet", work / f"documented_{rows}.parquet"
        con.execute(CHARGES_SQL.format(path=charges))
        con.execute(DOCUMENTED_SQL.format(path=documented))
        data["documented_rows"] = con.execute(
            "SELECT count(*) FROM staging.procedures").fetchone()[0]
    finally:
        con.close()
    data.update(db=str(db), charges=str(charges), documented=str(documented),
                parquet_mb=(charges.stat().st_size + documented.stat().st_size) / 2**20)
    return data


def _as_of() -> dt.date:
    import rule_runner

    return rule_runner.AS_OF


def _missing_before() -> dt.date:
    """Documented keys with a service date before this are missing charges (charge window)."""
    from reconcile.config import Thresholds

    return _as_of() - dt.timedelta(days=Thresholds().charge_window_days)


# --------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------

def child_pandas(args: argparse.Namespace) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    ch = pd.read_parquet(args.charges)
    doc = pd.read_parquet(args.documented)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    ch["net"] = ch["quantity"].where(ch["txn_type"] == "CG", -ch["quantity"])
    posted = ch.groupby(KEY, as_index=False)["net"].sum()
    documented = doc[doc["status"] == "completed"].groupby(KEY, as_index=False).size()
    m = posted.merge(documented, on=KEY, how="outer", indicator=True)
    cutoff = pd.Timestamp(_missing_before())
    service = pd.to_datetime(m["service_date"])
    found = {
        "MISSING_CHARGE": int(((m["_merge"] == "right_only") & (service < cutoff)).sum()),
        "UNDOCUMENTED_CHARGE": int(((m["_merge"] == "left_only") & (m["net"] > 0)).sum()),
        "CHARGE_QTY_MISMATCH": int(((m["_merge"] == "both") & (m["net"] != m["size"])).sum()),
    }
    return {"load_seconds": load_s, "seconds": time.perf_counter() - t1, "found": found}


def child_datacompy_pandas(args: argparse.Namespace) -> dict:
    import datacompy
    import pandas as pd

    t0 = time.perf_counter()
    ch = pd.read_parquet(args.charges)
    doc = pd.read_parquet(args.documented)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    ch["qty"] = ch["quantity"].where(ch["txn_type"] == "CG", -ch["quantity"])
    posted = ch.groupby(KEY, as_index=False)["qty"].sum()
    documented = (doc[doc["status"] == "completed"].groupby(KEY, as_index=False).size()
                  .rename(columns={"size": "qty"}))
    documented["qty"] = documented["qty"].astype("float64")
    cmp = datacompy.PandasCompare(posted, documented, join_columns=KEY, df1_name="charges",
                                  df2_name="documented")
    cutoff = pd.Timestamp(_missing_before())
    missing = cmp.df2_unq_rows
    undocumented = cmp.df1_unq_rows
    found = {
        "MISSING_CHARGE": int((pd.to_datetime(missing["service_date"]) < cutoff).sum()),
        "UNDOCUMENTED_CHARGE": int((undocumented["qty"] > 0).sum()),
        "CHARGE_QTY_MISMATCH": len(cmp.all_mismatch()),
    }
    return {"load_seconds": load_s, "seconds": time.perf_counter() - t1, "found": found}


def child_datacompy_polars(args: argparse.Namespace) -> dict:
    import datacompy
    import polars as pl

    t0 = time.perf_counter()
    ch = pl.read_parquet(args.charges)
    doc = pl.read_parquet(args.documented)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    posted = ch.group_by(KEY).agg(
        pl.when(pl.col("txn_type") == "CG").then(pl.col("quantity"))
        .otherwise(-pl.col("quantity")).sum().alias("qty"))
    documented = (doc.filter(pl.col("status") == "completed").group_by(KEY)
                  .agg(pl.len().cast(pl.Float64).alias("qty")))
    cmp = datacompy.PolarsCompare(posted, documented, join_columns=KEY, df1_name="charges",
                                  df2_name="documented")
    cutoff = _missing_before()
    found = {
        "MISSING_CHARGE": cmp.df2_unq_rows.filter(pl.col("service_date") < cutoff).height,
        "UNDOCUMENTED_CHARGE": cmp.df1_unq_rows.filter(pl.col("qty") > 0).height,
        "CHARGE_QTY_MISMATCH": cmp.all_mismatch().height,
    }
    return {"load_seconds": load_s, "seconds": time.perf_counter() - t1, "found": found}


def _duck(args: argparse.Namespace):
    import duckdb

    con = duckdb.connect(args.db)
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute(f"SET temp_directory = '{args.temp_dir}'")
    return con


def child_floor(args: argparse.Namespace) -> dict:
    import rule_runner

    con = _duck(args)
    t1 = time.perf_counter()
    con.execute(rule_runner.FLOOR_SQL)
    keys, differing = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE expected_qty <> posted_qty) FROM floor_keys"
    ).fetchone()
    seconds = time.perf_counter() - t1
    # what the floor's join tells apart, counted after the timing
    missing, undocumented, qty = con.execute(
        "SELECT count(*) FILTER (WHERE posted_qty = 0 AND expected_qty > 0 "
        "AND service_date < $cutoff), count(*) FILTER (WHERE expected_qty = 0 AND posted_qty > 0), "
        "count(*) FILTER (WHERE expected_qty > 0 AND posted_qty > 0 AND expected_qty <> posted_qty) "
        "FROM floor_keys", {"cutoff": _missing_before()}).fetchone()
    con.close()
    return {"load_seconds": 0.0, "seconds": seconds, "keys": keys, "differing": differing,
            "found": {"MISSING_CHARGE": missing, "UNDOCUMENTED_CHARGE": undocumented,
                      "CHARGE_QTY_MISMATCH": qty}}


def child_chartledger(args: argparse.Namespace) -> dict:
    from reconcile.config import DuckDBSettings, Thresholds
    from reconcile.pipeline import refresh_canonical
    from reconcile.rules import evaluate_day, load_catalogue
    from reconcile.warehouse import Warehouse

    rules = [r for r in load_catalogue() if r.rule_id in CHARGE_RULES]
    settings = DuckDBSettings(memory_limit=args.memory_limit, threads=args.threads,
                              temp_directory=args.temp_dir)
    with Warehouse(Path(args.db), settings).writer() as con:
        refresh_canonical(con)
        t1 = time.perf_counter()
        counts = evaluate_day(con, _as_of(), Thresholds(), rules=rules)
        seconds = time.perf_counter() - t1
    return {"load_seconds": 0.0, "seconds": seconds, "found": counts}


CHILDREN = {"pandas": child_pandas, "datacompy-pandas": child_datacompy_pandas,
            "datacompy-polars": child_datacompy_polars, "duckdb-floor": child_floor,
            "chartledger": child_chartledger}


PRELOAD = {"pandas": ("pandas",), "datacompy-pandas": ("pandas", "datacompy"),
           "datacompy-polars": ("polars", "datacompy"), "duckdb-floor": ("duckdb", "rule_runner"),
           "chartledger": ("duckdb", "rule_runner", "reconcile.rules", "reconcile.pipeline")}


def child_main(args: argparse.Namespace) -> int:
    import importlib

    for module in PRELOAD[args.child]:  # imports are not part of the measurement
        importlib.import_module(module)
    rss_before = kit.rss_mb()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    result = CHILDREN[args.child](args)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    result["rss_before_mb"] = rss_before
    Path(args.out).write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


def run_child(method: str, data: dict, args: argparse.Namespace) -> dict:
    temp = args.work / "duckdb_tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    out = args.work / f"child_{method}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, "--db", data["db"],
           "--charges", data["charges"], "--documented", data["documented"], "--out", str(out),
           "--memory-limit", args.memory_limit, "--threads", str(args.threads),
           "--temp-dir", str(temp)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=kit.REPO)
    with kit.TreeSampler(proc.pid) as sampler:
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{method} failed with exit status {status}")
    result = json.loads(out.read_text(encoding="utf-8"))
    result.update(method=method, process_seconds=wall, peak_rss_mb=usage.ru_maxrss / 1024,
                  tree_peak_mb=sampler.peak_mb,
                  load_max=max((s[2] for s in sampler.samples), default=kit.load1()))
    return result


def measure(method: str, data: dict, args: argparse.Namespace, rows: int) -> dict:
    runs = [run_child(method, data, args) for _ in range(args.repeat)]
    for r in runs:
        print(f"[{rows:,}] {method}: load {r['load_seconds']:.2f} s + {r['seconds']:.2f} s, "
              f"peak {r['peak_rss_mb']:,.0f} MB, load avg <= {r['load_max']:.2f}, "
              f"found {r['found']}", flush=True)
    best = dict(min(runs, key=lambda r: r["load_seconds"] + r["seconds"]))
    best["runs"] = [round(r["load_seconds"] + r["seconds"], 2) for r in runs]
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    best["load_max"] = max(r["load_max"] for r in runs)
    return best


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _total(m: dict) -> float:
    return m["load_seconds"] + m["seconds"]


def verdict(m: dict, planted: dict) -> str:
    wrong = []
    for cls in CLASSES:
        if cls not in m["found"]:
            wrong.append(f"{cls} not told apart")
        elif m["found"][cls] != planted[cls]:
            wrong.append(f"{cls} {m['found'][cls]:,} vs {planted[cls]:,}")
    return "all correct" if not wrong else "; ".join(wrong)


def markdown_section(rows: int, data: dict, results: dict[str, dict], machine: dict,
                     command: str, measured_on: str | None = None) -> str:
    planted = {c: int(data["planted"][c]) for c in CLASSES}
    cl = results.get("chartledger")
    floor = results.get("duckdb-floor")
    lines = [section_heading(rows), "",
             f"Measured {measured_on or dt.date.today()} with `{command}`.", "",
             kit.machine_line(machine), "",
             f"Data (bench/rule_runner.py's builder): {data['counts']['charges']:,} charge lines, "
             f"{data['documented_rows']:,} procedure rows ({data['counts']['visits']:,} visits); "
             f"Parquet of the two sides {data['parquet_mb']:,.0f} MB. Planted: "
             + ", ".join(f"{c} {planted[c]:,}" for c in CLASSES)
             + f" (plus {int(data['planted']['CREDIT_REPOSTS']):,} credit-and-repost pairs, "
             "not defects). DuckDB memory_limit "
             f"{args_memory(results)}, threads 2; polars on both CPUs; pandas one. Seconds = "
             "load (read Parquet; none for the DuckDB warehouse) + compare; peak RSS = the "
             "child process's ru_maxrss (\"before\" = after imports).", "",
             "| method | load s | compare s | total s | CPU s | peak RSS MB | RSS before MB "
             "| load avg max | time / ChartLedger's | ChartLedger's peak / its peak | classes "
             "(found vs planted) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for method in METHODS:
        m = results.get(method)
        if not m:
            continue
        speed = f"{_total(m) / _total(cl):.2f}" if cl else ""
        mem = f"{cl['peak_rss_mb'] / m['peak_rss_mb']:.2f}" if cl else ""
        lines.append(f"| {method} | {m['load_seconds']:.2f} | {m['seconds']:.2f} | "
                     f"**{_total(m):.2f}** | {m['cpu_seconds']:.1f} | {m['peak_rss_mb']:,.0f} | "
                     f"{m['rss_before_mb']:,.0f} | {m['load_max']:.2f} | {speed} | {mem} | "
                     f"{verdict(m, planted)} |")
    lines.append("")
    if cl and floor:
        ratio = _total(cl) / _total(floor)
        lines.append(f"- ChartLedger / floor = {ratio:.2f} (target <= 2: "
                     f"{'met' if ratio <= 2 else 'NOT met'}).")
    for method, (_op, target) in TARGETS.items():
        m = results.get(method)
        if not (m and cl) or method == "duckdb-floor":
            continue
        speed = _total(m) / _total(cl)
        extra = ""
        if method == "pandas":
            half = cl["peak_rss_mb"] <= m["peak_rss_mb"] / 2
            extra = (f"; ChartLedger's peak memory {cl['peak_rss_mb']:,.0f} MB vs "
                     f"{m['peak_rss_mb']:,.0f} MB (target <= half: {'met' if half else 'NOT met'})")
        pace = (f"ChartLedger {speed:.2f}x as fast" if speed >= 1 else
                f"ChartLedger {1 / speed:.2f}x slower")
        lines.append(f"- {method} time / ChartLedger time = {speed:.2f}, {pace} (target >= "
                     f"{target:g}: {'met' if speed >= target else 'NOT met'}){extra}.")
    lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def args_memory(results: dict[str, dict]) -> str:
    return next((m.get("memory_limit", "") for m in results.values() if m.get("memory_limit")),
                "3GB")


# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit of the measurements")
    p.add_argument("--gen-memory-limit", default="8GB")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--quiet-load", type=float, default=0.0,
                   help="wait until the 1-minute load average is below this before each size")
    p.add_argument("--max-wait", type=float, default=1800.0)
    p.add_argument("--work", type=Path)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--no-results", action="store_true")
    p.add_argument("--report-from", type=Path, nargs="+",
                   help="only (re)write the RESULTS.md sections of saved baselines_*.json")
    p.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    for hidden in ("--db", "--charges", "--documented", "--out", "--temp-dir"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    if args.report_from:
        for path in args.report_from:
            saved = json.loads(path.read_text(encoding="utf-8"))
            rows = saved["rows"]
            section = markdown_section(rows, saved["data"], saved["results"], saved["machine"],
                                       saved["command"], saved.get("measured_on"))
            print(section)
            if not args.no_results:
                kit.replace_section(section_heading(rows), section)
        return 0
    created = args.work is None
    args.work = Path(args.work or tempfile.mkdtemp(prefix="chartledger-baselines-")).resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    command = "python bench/baselines.py " + " ".join(sys.argv[1:] if argv is None else argv)
    machine = kit.machine_info()
    print(kit.machine_line(machine), f"\nwork directory {args.work}", flush=True)
    try:
        for rows in args.rows:
            t0 = time.perf_counter()
            data = build(args.work, rows, args)
            print(f"[{rows:,}] built in {time.perf_counter() - t0:.0f} s; planted "
                  f"{ {c: data['planted'][c] for c in CLASSES} }", flush=True)
            if args.quiet_load:
                print(f"  load average now {kit.wait_for_quiet(args.quiet_load, args.max_wait):.2f}")
            results = {}
            for method in args.methods:
                results[method] = measure(method, data, args, rows)
                results[method]["memory_limit"] = args.memory_limit
            (args.work / f"baselines_{rows}.json").write_text(json.dumps(
                {"rows": rows, "data": data, "results": results, "machine": machine,
                 "command": command, "measured_on": str(dt.date.today())}, indent=1, default=str),
                encoding="utf-8")
            section = markdown_section(rows, data, results, machine, command)
            print("\n" + section, flush=True)
            if not args.no_results:
                kit.replace_section(section_heading(rows), section)
            if not args.keep:
                for f in args.work.glob(f"*_{rows}.*"):
                    if f.suffix in (".duckdb", ".parquet", ".wal"):
                        f.unlink()
    finally:
        if created and not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
