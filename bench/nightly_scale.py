"""Hospital-scale nightly benchmark (issue 8): each stage of a night at 100 k, 1 M, 3 M rows/day.

For each rows/day value the script
  1. calibrates the demo generator (rows of a steady-state day are linear in visits per day) and
     runs `chartledger generate` for nine facilities at the visits per day that give that many
     staging rows, for the warm-up nights, the measured nights and any extra night;
  2. runs the nights in a child process of its own, calling the engine the way the Dagster assets
     do (one writer connection per step, one per staging feed), each stage timed on its own:
       landing    discover the day's files, read control files, sha256 every file
       staging    load_feed_day for the 14 feeds (parse, pandera validation, quarantine, insert)
       canonical  refresh_canonical + the canonical row counts the asset reports
       rules      held_facilities + reconcile_day (the whole catalogue over the 14-day window)
                  + the open summary and match rates the asset reports
       publish    build_digest + publish (analyst.duckdb) + the digest file
     with the stage's CPU seconds and its peak RSS (VmHWM reset before each stage);
  3. optionally closes the month (build_close, Excel + HTML, publish) after its last night,
     profiles one more night with pyinstrument (plus every SQL statement timed), and runs one
     more night end to end through Dagster (`chartledger run`) for the orchestration overhead.
The parent samples the RSS of the child's whole process tree and the 1-minute load average
every 0.1 s; each night reports both. Rows/s of a stage = the night's staging rows / the stage's
seconds. Run from the repository root:

    .venv/bin/python bench/nightly_scale.py --rows-per-day 100000 1000000 --month
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import scale_kit as kit  # noqa: E402

DAY = dt.timedelta(days=1)
STAGES = ("landing", "staging", "canonical", "rules", "publish")
CLOSE_STAGES = ("close_build", "close_render", "close_publish")
STAGING_ONLY = ("warmup-staging", "month-staging")  # phases that load staging and stop
TARGET_NIGHT_S = 60.0
TARGET_NIGHT_MB = 3 * 1024
TARGET_CLOSE_S = 600.0
TARGET_CLOSE_MB = 6 * 1024


def section_heading(result: dict) -> str:
    """Heading of a run's section: the scale and the protocol (so runs of both kinds coexist)."""
    rpd = result["rows_per_day"]
    warm = sum(1 for r in result["records"] if str(r.get("phase")).startswith("warmup"))
    measured = len(_measured(result))
    kind = "full" if result["warmup_mode"] == "full" else "staging-only"
    if result["month"] and result.get("month_staging_nights"):
        what = (f"the {result['period']} month ({result['month_staging_nights']} nights staging "
                f"only, then {measured} full nights) and its close")
    elif result["month"]:
        what = f"the {result['period']} month ({measured} nights) and its close"
    else:
        what = f"{measured} nights"
    return (f"## Hospital-scale nightly at {rpd:,} rows/day: {what}, after {warm} {kind} "
            f"warm-up nights (issue 8)")


# --------------------------------------------------------------------------------------------
# Child: the nights, stage by stage
# --------------------------------------------------------------------------------------------

class TimingConnection:
    """Delegates to a DuckDB connection and times every execute() (the profiled night only)."""

    def __init__(self, con, timings: dict[str, float]) -> None:
        self._con = con
        self._timings = timings

    def execute(self, statement, parameters=None):
        t0 = time.perf_counter()
        try:
            return self._con.execute(statement, parameters)
        finally:
            label = _label(statement, parameters)
            self._timings[label] = self._timings.get(label, 0.0) + time.perf_counter() - t0

    def __getattr__(self, name):
        return getattr(self._con, name)


def _label(statement: str, parameters) -> str:
    if isinstance(parameters, dict) and "rule_id" in parameters:
        return f"rule {parameters['rule_id']}"
    code = re.sub(r"\s+", " ", " ".join(ln.split("--", 1)[0] for ln in statement.splitlines()))
    m = re.match(r"\s*(CREATE OR REPLACE TEMP TABLE|CREATE OR REPLACE VIEW|CREATE TABLE|"
                 r"INSERT OR REPLACE INTO|INSERT INTO|DELETE FROM|UPDATE|COPY|SELECT .*? FROM)"
                 r" (\S+)", code, re.IGNORECASE)
    if m:
        verb = m.group(1).split()[0].lower() if m.group(1).upper().startswith("SELECT") \
            else m.group(1).lower()
        return f"{verb} {m.group(2)}"[:80]
    return code.strip()[:80]


class Stage:
    """Times one stage: wall and CPU seconds, peak RSS of this process during it."""

    def __init__(self, record: dict, name: str) -> None:
        self.record, self.name = record, name

    def __enter__(self) -> dict:
        kit.reset_peak()
        self.entry = {"t0": time.time()}
        self._cpu = _cpu_seconds()
        self._t = time.perf_counter()
        return self.entry

    def __exit__(self, *exc: object) -> None:
        self.entry.update(seconds=time.perf_counter() - self._t,
                          cpu_seconds=_cpu_seconds() - self._cpu,
                          peak_mb=kit.peak_mb(), rss_after_mb=kit.rss_mb(), t1=time.time())
        self.record["stages"][self.name] = self.entry


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_night(settings, day: dt.date, phase: str, timings: dict[str, float] | None) -> dict:
    """One night through the engine, stage by stage (the Dagster assets' calls, no Dagster)."""
    from reconcile.digest import build_digest, write_digest
    from reconcile.pipeline import (
        discover_day,
        held_facilities,
        load_feed_day,
        reconcile_day,
        refresh_canonical,
    )
    from reconcile.publish import publish
    from reconcile.readers import SUPPORTED_FEEDS
    from reconcile.sqlfiles import query_sql_file
    from reconcile.warehouse import Warehouse

    wh = Warehouse(settings.warehouse_path, settings.duckdb)
    wrap = (lambda c: TimingConnection(c, timings)) if timings is not None else (lambda c: c)
    run_id = f"bench-{day.isoformat()}"
    rec: dict = {"day": day.isoformat(), "phase": phase, "stages": {}, "t0": time.time()}
    with Stage(rec, "landing") as st:
        files = discover_day(settings, day)
        st.update(files=len(files), bytes=sum(f.size_bytes for f in files),
                  complete=sum(1 for f in files if f.complete))
    with Stage(rec, "staging") as st:
        per_feed = {}
        for feed in SUPPORTED_FEEDS:
            t = time.perf_counter()
            with wh.writer() as con:
                result = load_feed_day(wrap(con), settings, feed, day, run_id)
            per_feed[feed] = {"rows": result.rows_loaded, "rejected": result.rows_rejected,
                              "seconds": time.perf_counter() - t,
                              "outcomes": sorted({o.outcome for o in result.outcomes}),
                              "missing": result.missing}
        st.update(feeds=per_feed)
    rec["rows_loaded"] = sum(f["rows"] for f in per_feed.values())
    rec["rows_rejected"] = sum(f["rejected"] for f in per_feed.values())
    if phase not in STAGING_ONLY:
        with Stage(rec, "canonical") as st, wh.writer() as con:
            refresh_canonical(wrap(con))
            st.update(counts={k: int(v) for k, v in query_sql_file(
                wrap(con), "ops/canonical_counts.sql").fetchall()})
        with Stage(rec, "rules") as st, wh.writer() as con:
            held = tuple(held_facilities(wrap(con), settings, day))
            found = reconcile_day(wrap(con), settings, day, held)
            open_rows = query_sql_file(wrap(con), "recon/open_summary.sql").fetchall()
            query_sql_file(wrap(con), "ops/match_rates.sql", {"day": day}).fetchall()
            st.update(held=list(held), findings=sum(found.values()),
                      open=sum(int(r[1]) for r in open_rows))
        with Stage(rec, "publish") as st:
            with wh.writer() as con:
                rows = build_digest(wrap(con), day)
                publish(wrap(con), settings.analyst_path)
            write_digest(rows, day, settings.outputs / "digest")
            st.update(analyst_mb=settings.analyst_path.stat().st_size / 2**20)
    rec["t1"] = time.time()
    rec["warehouse_mb"] = settings.warehouse_path.stat().st_size / 2**20
    return rec


def run_close(settings, period: str) -> dict:
    """The month-end close as the close asset runs it: build, render, publish."""
    from reconcile.close.package import build_close
    from reconcile.close.render_excel import write_workbook
    from reconcile.close.render_html import write_html
    from reconcile.publish import publish
    from reconcile.warehouse import Warehouse

    wh = Warehouse(settings.warehouse_path, settings.duckdb)
    rec: dict = {"period": period, "phase": "close", "stages": {}, "t0": time.time()}
    out_dir = settings.outputs / "close" / period
    out_dir.mkdir(parents=True, exist_ok=True)
    with wh.writer() as con:
        with Stage(rec, "close_build") as st:
            result = build_close(con, settings, period, False, f"bench-close-{period}")
            st.update(ready=result.ready_to_close, preliminary=result.preliminary)
        with Stage(rec, "close_render"):
            write_workbook(con, period, out_dir)
            write_html(con, period, out_dir)
        with Stage(rec, "close_publish"):
            publish(con, settings.analyst_path)
    rec["t1"] = time.time()
    return rec


def profile_night(settings, day: dt.date, out_dir: Path) -> dict:
    """One night under pyinstrument (main thread, HTML + text tree in the work directory) and a
    sampler of every thread's stack, with every SQL statement timed."""
    from pyinstrument import Profiler

    timings: dict[str, float] = {}
    profiler = Profiler(interval=0.005)
    with kit.StackSampler() as sampler:
        profiler.start()
        rec = run_night(settings, day, "profile", timings)
        profiler.stop()
    (out_dir / f"profile_{day}.txt").write_text(
        profiler.output_text(unicode=False, color=False, show_all=False), encoding="utf-8")
    profiler.write_html(str(out_dir / f"profile_{day}.html"))
    rec["hot_self"] = sampler.top("self", 30)
    rec["hot_total"] = sampler.top("total", 60)
    rec["hot_statements"] = sorted(timings.items(), key=lambda kv: -kv[1])[:30]
    return rec


def child_main(args: argparse.Namespace) -> int:
    from reconcile.config import DuckDBSettings, Settings
    from reconcile.warehouse import Warehouse

    plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
    settings = Settings(landing_root=Path(plan["landing"]), warehouse_path=Path(plan["warehouse"]),
                        facilities=tuple(plan["facilities"]),
                        duckdb=DuckDBSettings(memory_limit=plan["memory_limit"],
                                              threads=plan["threads"],
                                              temp_directory=plan["temp_dir"]))
    Warehouse(settings.warehouse_path, settings.duckdb).ensure_schema()
    out = Path(args.out)
    with out.open("a", encoding="utf-8") as fh:
        def emit(rec: dict) -> None:
            fh.write(json.dumps(rec, default=str) + "\n")
            fh.flush()

        for item in plan["steps"]:
            kind = item["kind"]
            if kind == "night":
                rec = run_night(settings, dt.date.fromisoformat(item["day"]), item["phase"], None)
                st = rec["stages"]
                print(f"    {rec['day']} {rec['phase']:<15} {rec['rows_loaded']:>10,} rows "
                      + "  ".join(f"{s} {st[s]['seconds']:.1f}s" for s in STAGES if s in st)
                      + f"  peak {max(v['peak_mb'] for v in st.values()):,.0f} MB", flush=True)
            elif kind == "close":
                rec = run_close(settings, item["period"])
                print(f"    close {item['period']}: " + "  ".join(
                    f"{s} {rec['stages'][s]['seconds']:.1f}s" for s in CLOSE_STAGES), flush=True)
            else:
                rec = profile_night(settings, dt.date.fromisoformat(item["day"]), Path(args.out).parent)
                print(f"    profiled {item['day']}", flush=True)
            emit(rec)
    return 0


# --------------------------------------------------------------------------------------------
# Parent: generate, run the child under a tree sampler, run Dagster, report
# --------------------------------------------------------------------------------------------

def run_child(plan: dict, work: Path) -> tuple[list[dict], kit.TreeSampler]:
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=1), encoding="utf-8")
    out = work / "nights.jsonl"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--plan", str(plan_path),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=kit.REPO)
    with kit.TreeSampler(proc.pid) as sampler:
        code = proc.wait()
    records = [json.loads(ln) for ln in out.read_text(encoding="utf-8").splitlines() if ln]
    if code:
        raise RuntimeError(f"the nights' child process failed with exit code {code} "
                           f"after {len(records)} steps (partial results in {out})")
    for rec in records:
        rec["tree_peak_mb"], rec["load_max"] = sampler.between(rec["t0"], rec["t1"])
        for st in rec["stages"].values():
            st["tree_peak_mb"], st["load_max"] = sampler.between(st["t0"], st["t1"])
    return records, sampler


def dagster_night(landing: Path, warehouse: Path, day: dt.date, work: Path) -> dict:
    """One more night end to end through Dagster (`chartledger run`), tree-sampled."""
    import duckdb

    env = dict(os.environ, DAGSTER_HOME=str(work / "dagster_home"))
    (work / "dagster_home").mkdir(exist_ok=True)
    cmd = [kit.chartledger_bin(), "run", "--landing", str(landing), "--warehouse",
           str(warehouse), "--start", day.isoformat(), "--end", day.isoformat()]
    t0, wall0 = time.time(), time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=kit.REPO, env=env, stdout=subprocess.PIPE, text=True)
    with kit.TreeSampler(proc.pid) as sampler:
        stdout, _ = proc.communicate()
    seconds = time.perf_counter() - wall0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        steps = con.execute(
            "SELECT step, epoch(CAST(finished_at AS TIMESTAMP) - CAST(started_at AS TIMESTAMP)) "
            "FROM ops.run_log WHERE partition_key = $p AND started_at >= $t ORDER BY started_at",
            {"p": day.isoformat(), "t": dt.datetime.fromtimestamp(t0).replace(microsecond=0)}
        ).fetchall()
    finally:
        con.close()
    layers: dict[str, float] = {}
    for step, secs in steps:
        layer = step.split("/", 1)[0]
        layers[layer] = layers.get(layer, 0.0) + float(secs or 0)
    return {"day": day.isoformat(), "seconds": seconds, "exit": proc.returncode,
            "tree_peak_mb": sampler.peak_mb,
            "load_max": max((s[2] for s in sampler.samples), default=kit.load1()),
            "layers": layers, "stdout_tail": stdout[-600:]}


def plan_scale(args: argparse.Namespace, rows_per_day: int) -> dict:
    """Dates of the warm-up, measured and extra nights for one scale."""
    period_start = dt.date.fromisoformat(args.period + "-01")
    month = rows_per_day in args.month_scales or (args.month and not args.month_scales)
    month_staging: list[dt.date] = []
    if month:
        nxt = (period_start.replace(day=28) + 4 * DAY).replace(day=1)
        measured = [(period_start + i * DAY) for i in range((nxt - period_start).days)]
        if args.month_full_nights:
            month_staging = measured[:-args.month_full_nights]
            measured = measured[-args.month_full_nights:]
    else:
        measured = [period_start + i * DAY for i in range(args.nights)]
    first = period_start - args.warmup * DAY
    warmup = [first + i * DAY for i in range(args.warmup)]
    extra_day = measured[-1] + DAY
    profile_day = extra_day if rows_per_day in args.profile_scales else None
    if profile_day:
        extra_day += DAY
    dagster_day = extra_day if rows_per_day in args.dagster_scales else None
    last = dagster_day or profile_day or measured[-1]
    return {"first": first, "last": last, "warmup": warmup, "measured": measured,
            "month_staging": month_staging,
            "month": month, "profile_day": profile_day, "dagster_day": dagster_day}


def run_scale(args: argparse.Namespace, rows_per_day: int, cal: kit.Calibration) -> dict:
    plan = plan_scale(args, rows_per_day)
    work = args.work / f"rows_{rows_per_day}"
    landing, warehouse = work / "landing", work / "warehouse.duckdb"
    vpd = cal.visits_for(rows_per_day)
    days = (plan["last"] - plan["first"]).days + 1
    gen = _generated(work, plan["first"], days, vpd, args.seed)
    if gen is None:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        print(f"\n[{rows_per_day:,} rows/day] {len(kit.FACILITIES)} facilities x {vpd:,} "
              f"visits/day, generating {days} days from {plan['first']} ...", flush=True)
        load_before = kit.load1()
        gen = kit.generate(landing, plan["first"], days, kit.FACILITIES, vpd, args.seed)
        gen.load_max = max(load_before, kit.load1())
        _write_generated(work, gen, args.seed)
    else:
        print(f"\n[{rows_per_day:,} rows/day] reusing the {days} days generated in {landing}",
              flush=True)
    print(f"  generated {gen.records:,} records in {gen.seconds:.0f} s "
          f"({gen.records / gen.seconds:,.0f}/s), peak RSS {gen.peak_rss_mb:,.0f} MB; "
          f"landing {_du_mb(landing):,.0f} MB", flush=True)
    if args.generate_only:
        return None
    for stale in (*work.glob("warehouse.duckdb*"), *work.glob("analyst.duckdb*"),
                  work / "outputs", work / "dagster_home", work / "duckdb_tmp"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    steps = [{"kind": "night", "day": d.isoformat(),
              "phase": "warmup" if args.warmup_mode == "full" else "warmup-staging"}
             for d in plan["warmup"]]
    steps += [{"kind": "night", "day": d.isoformat(), "phase": "month-staging"}
              for d in plan["month_staging"]]
    steps += [{"kind": "night", "day": d.isoformat(), "phase": "measured"}
              for d in plan["measured"]]
    if plan["month"]:
        steps.append({"kind": "close", "period": args.period})
    if plan["profile_day"]:
        steps.append({"kind": "profile", "day": plan["profile_day"].isoformat()})
    child_plan = {"landing": str(landing), "warehouse": str(warehouse),
                  "facilities": list(kit.FACILITIES), "memory_limit": args.memory_limit,
                  "threads": args.threads, "temp_dir": str(work / "duckdb_tmp"), "steps": steps}
    if args.quiet_load:
        print(f"  load average now {kit.wait_for_quiet(args.quiet_load, args.max_wait):.2f}",
              flush=True)
    records: list[dict] = []
    if args.process == "one":
        records, _sampler = run_child(child_plan, work)
    else:  # a process per night, as Dagster's default run launcher starts one per run
        for step in steps:
            got, _sampler = run_child({**child_plan, "steps": [step]}, work)
            records += got
    result = {"rows_per_day": rows_per_day, "visits_per_day": vpd, "generated": {
        "records": gen.records, "seconds": gen.seconds, "peak_rss_mb": gen.peak_rss_mb,
        "days": days, "landing_mb": _du_mb(landing), "load_max": gen.load_max},
        "calibration": {"fixed": cal.fixed, "per_visit": cal.per_visit, "points": cal.points},
        "records": records, "memory_limit": args.memory_limit, "threads": args.threads,
        "warmup_mode": args.warmup_mode, "process": args.process, "month": plan["month"],
        "month_staging_nights": len(plan["month_staging"]),
        "period": args.period}
    if plan["dagster_day"]:
        print(f"  one night through Dagster ({plan['dagster_day']}) ...", flush=True)
        result["dagster"] = dagster_night(landing, warehouse, plan["dagster_day"], work)
        print(f"    {result['dagster']['seconds']:.1f} s, tree peak "
              f"{result['dagster']['tree_peak_mb']:,.0f} MB", flush=True)
    result["warehouse_mb"] = warehouse.stat().st_size / 2**20
    (args.work / f"nightly_scale_{rows_per_day}.json").write_text(
        json.dumps(result, indent=1, default=str), encoding="utf-8")
    if not args.keep:
        shutil.rmtree(landing, ignore_errors=True)
        for f in work.glob("warehouse.duckdb*"):
            f.unlink()
        (work / "analyst.duckdb").unlink(missing_ok=True)
    return result


def _generated(work: Path, first: dt.date, days: int, vpd: int, seed: int) -> kit.Generated | None:
    """The generation recorded in `work` if it covers the one wanted (bench runs can reuse it).

    A longer generation from the same start serves a shorter plan: its first days are a demo
    system of the same size (not byte-identical to a shorter generation, whose random draws
    differ), and a night reads only its own day's files."""
    marker = work / "generated.json"
    if not marker.exists() or not (work / "landing").is_dir():
        return None
    data = json.loads(marker.read_text(encoding="utf-8"))
    want = {"start": first.isoformat(), "facilities": list(kit.FACILITIES),
            "visits_per_day": vpd, "seed": seed}
    if {k: data.get(k) for k in want} != want or int(data.get("days", 0)) < days:
        return None
    days = int(data["days"])
    return kit.Generated(work / "landing", first, days, kit.FACILITIES, vpd, data["seconds"],
                         data["peak_rss_mb"], data["records"], data.get("load_max", 0.0))


def _write_generated(work: Path, gen: kit.Generated, seed: int) -> None:
    (work / "generated.json").write_text(json.dumps({
        "start": gen.start.isoformat(), "days": gen.days, "facilities": list(gen.facilities),
        "visits_per_day": gen.visits_per_day, "seed": seed, "seconds": gen.seconds,
        "peak_rss_mb": gen.peak_rss_mb, "records": gen.records, "load_max": gen.load_max},
        indent=1), encoding="utf-8")


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _measured(result: dict) -> list[dict]:
    return [r for r in result["records"] if r.get("phase") == "measured"]


def _night_total(rec: dict) -> float:
    return sum(rec["stages"][s]["seconds"] for s in STAGES if s in rec["stages"])


def _median_night(result: dict) -> dict:
    nights = sorted(_measured(result), key=_night_total)
    return nights[len(nights) // 2]


def stage_table(result: dict) -> list[str]:
    """Per stage: median night's seconds, rows/s, CPU s, peak MB (process / tree), load."""
    nights = _measured(result)
    med = _median_night(result)
    rows = med["rows_loaded"]
    lines = [f"Median measured night ({med['day']}, {rows:,} staging rows, "
             f"{med['stages']['landing']['files']} files, "
             f"{med['stages']['landing']['bytes'] / 2**20:,.0f} MB of files; "
             f"{len(nights)} measured night(s)):", "",
             "| stage | seconds | rows/s | CPU s | peak RSS MB (process) | peak RSS MB (tree, "
             "sampled) | seconds over the measured nights (min / median / max) | load avg max |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    for s in STAGES:
        st = med["stages"][s]
        secs = sorted(n["stages"][s]["seconds"] for n in nights)
        lines.append(f"| {s} | {st['seconds']:.2f} | {rows / st['seconds']:,.0f} "
                     f"| {st['cpu_seconds']:.1f} | {st['peak_mb']:,.0f} | {st['tree_peak_mb']:,.0f} "
                     f"| {secs[0]:.2f} / {statistics.median(secs):.2f} / {secs[-1]:.2f} "
                     f"| {st['load_max']:.2f} |")
    total = _night_total(med)
    peak = max(st["peak_mb"] for st in med["stages"].values())
    lines.append(f"| **night** | **{total:.2f}** | {rows / total:,.0f} "
                 f"| {sum(med['stages'][s]['cpu_seconds'] for s in STAGES):.1f} | {peak:,.0f} "
                 f"| {med['tree_peak_mb']:,.0f} | "
                 f"{min(map(_night_total, nights)):.2f} / "
                 f"{statistics.median(map(_night_total, nights)):.2f} / "
                 f"{max(map(_night_total, nights)):.2f} | {med['load_max']:.2f} |")
    return lines


def feed_table(result: dict) -> list[str]:
    med = _median_night(result)
    feeds = med["stages"]["staging"]["feeds"]
    lines = ["| feed | rows | seconds | rows/s |", "|---|---:|---:|---:|"]
    for feed, f in sorted(feeds.items(), key=lambda kv: -kv[1]["seconds"]):
        rate = f"{f['rows'] / f['seconds']:,.0f}" if f["seconds"] else ""
        lines.append(f"| {feed} | {f['rows']:,} | {f['seconds']:.2f} | {rate} |")
    return lines


def nights_table(result: dict) -> list[str]:
    """Every night: rows, seconds and peak per night (is the 30th night the 1st's cost?)."""
    lines = ["| night | phase | staging rows | seconds | s per M rows | staging s | rules s "
             "| publish s | peak RSS MB (process) | tree MB | warehouse MB | load avg max |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rec in result["records"]:
        if "day" not in rec or rec["phase"] == "profile":
            continue
        st = rec["stages"]
        total = _night_total(rec)
        secs = {s: f"{st[s]['seconds']:.1f}" if s in st else "-" for s in STAGES}
        lines.append(f"| {rec['day']} | {rec['phase']} | {rec['rows_loaded']:,} | {total:.1f} "
                     f"| {total / rec['rows_loaded'] * 1e6:.1f} | {secs['staging']} "
                     f"| {secs['rules']} | {secs['publish']} | {max(v['peak_mb'] for v in st.values()):,.0f} "
                     f"| {rec['tree_peak_mb']:,.0f} | {rec['warehouse_mb']:,.0f} "
                     f"| {rec['load_max']:.2f} |")
    return lines


def flatness_lines(result: dict) -> list[str]:
    nights = _measured(result)
    if len(nights) < 2:
        return []
    first, last = nights[0], nights[-1]
    t0, t1 = _night_total(first), _night_total(last)
    p0 = max(v["peak_mb"] for v in first["stages"].values())
    p1 = max(v["peak_mb"] for v in last["stages"].values())
    r0, r1 = first["rows_loaded"], last["rows_loaded"]
    ok_t = abs(t1 / t0 - 1) <= 0.2
    ok_p = abs(p1 / p0 - 1) <= 0.2
    return [f"- First vs last measured night: {t0:.1f} s -> {t1:.1f} s ({t1 / t0 - 1:+.0%}; rows "
            f"{r0:,} -> {r1:,}, {r1 / r0 - 1:+.0%}; per million rows {t0 / r0 * 1e6:.1f} -> "
            f"{t1 / r1 * 1e6:.1f} s), peak RSS {p0:,.0f} -> {p1:,.0f} MB ({p1 / p0 - 1:+.0%}). "
            f"Target: the last night within +-20 % of the first: time "
            f"{'met' if ok_t else 'NOT met'}, memory {'met' if ok_p else 'NOT met'}."]


def close_lines(result: dict) -> list[str]:
    close = next((r for r in result["records"] if r.get("phase") == "close"), None)
    if not close:
        return []
    nights = [r for r in result["records"] if r.get("phase") in ("measured", "month-staging")
              and str(r.get("day", "")).startswith(result["period"])]
    full = [n for n in nights if n["phase"] == "measured"]
    month_rows = sum(n["rows_loaded"] for n in nights)
    month_s = sum(_night_total(n) for n in nights)
    how = ("" if len(full) == len(nights) else
           f"; only the last {len(full)} were full nightlies, the others loaded staging only, so "
           "the recon tables hold the findings and match evidence of those nights' windows only")
    lines = [f"Month-end close of {result['period']} after its {len(nights)} nights "
             f"({month_rows:,} staging rows in the month; the nights took {month_s / 60:.1f} min "
             f"in all{how}):", "",
             "| step | seconds | peak RSS MB (process) | tree MB | load avg max |",
             "|---|---:|---:|---:|---:|"]
    for s in CLOSE_STAGES:
        st = close["stages"][s]
        lines.append(f"| {s} | {st['seconds']:.2f} | {st['peak_mb']:,.0f} | "
                     f"{st['tree_peak_mb']:,.0f} | {st['load_max']:.2f} |")
    total = sum(close["stages"][s]["seconds"] for s in CLOSE_STAGES)
    peak = max(close["stages"][s]["peak_mb"] for s in CLOSE_STAGES)
    ready = close["stages"]["close_build"].get("ready") or {}
    lines += ["", f"- Close: {total:.1f} s, peak {peak:,.0f} MB (target <= {TARGET_CLOSE_S:.0f} s, "
              f"<= {TARGET_CLOSE_MB} MB: {_met(total <= TARGET_CLOSE_S and peak <= TARGET_CLOSE_MB)}"
              f"); facilities ready to close: "
              f"{sum(1 for k, v in ready.items() if v and k != 'ALL')} of "
              f"{sum(1 for k in ready if k != 'ALL')} (open exceptions keep the rest)."]
    return lines


def profile_lines(result: dict, top: int = 15) -> list[str]:
    prof = next((r for r in result["records"] if r.get("phase") == "profile"), None)
    if not prof:
        return []
    total = _night_total(prof)
    lines = [f"Profiled night {prof['day']} ({prof['rows_loaded']:,} rows, {total:.1f} s with "
             "the profilers and statement timing on; not in the tables above). A sampler of "
             "every thread's stack (the staging reader parses in a worker thread); a wait "
             "inside DuckDB, on a lock or a queue is charged to the Python call that waits. "
             "Self time (innermost frame):", "",
             "| thread, function | self s | share of the night |", "|---|---:|---:|"]
    for name, secs in prof["hot_self"][:top]:
        lines.append(f"| `{_relabel(name)}` | {secs:.2f} | {secs / total:.0%} |")
    lines += ["", "SQL statements by total time (main thread):", "",
              "| statement | seconds | share of the night |", "|---|---:|---:|"]
    for name, secs in prof["hot_statements"][:top]:
        lines.append(f"| `{name}` | {secs:.2f} | {secs / total:.0%} |")
    return lines


def _relabel(name: str) -> str:
    """Say what the benchmark's own frames stand for."""
    if "bench/nightly_scale.py" in name and "execute" in name:
        return "[main] inside DuckDB: execute() of a SQL statement (timed by the benchmark)"
    if name.startswith("[main] wait (") and "threading.py" in name:
        return "[main] waiting on a thread (staging: the parse/validate worker)"
    return name


def dagster_lines(result: dict) -> list[str]:
    d = result.get("dagster")
    if not d:
        return []
    med = _median_night(result)
    layers = ", ".join(f"{k} {v:.0f} s" for k, v in d["layers"].items())
    return [f"- One more night ({d['day']}) end to end through Dagster (`chartledger run`, "
            f"in-process executor, its own instance): {d['seconds']:.1f} s wall, tree peak "
            f"{d['tree_peak_mb']:,.0f} MB, load <= {d['load_max']:.2f}, exit {d['exit']}; steps by "
            f"layer from ops.run_log (whole seconds): {layers}. Engine stages of the median night: "
            f"{_night_total(med):.1f} s."]


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def markdown_section(result: dict, machine: dict, command: str) -> str:
    rpd = result["rows_per_day"]
    med = _median_night(result)
    gen = result["generated"]
    night_s = _night_total(med)
    night_peak = max(med["tree_peak_mb"], *(v["peak_mb"] for v in med["stages"].values()))
    parts = [section_heading(result), "",
             f"Measured {result.get('measured_on', dt.date.today())} with `{command}`.", "",
             kit.machine_line(machine), "",
             f"Data: `chartledger generate` for {len(kit.FACILITIES)} facilities "
             f"({', '.join(kit.FACILITIES)}) x {result['visits_per_day']:,} new visits per "
             f"facility per day (calibrated: a steady-state day has about "
             f"{result['calibration']['per_visit'] / len(kit.FACILITIES):.1f} staging rows per "
             f"new visit); "
             f"{gen['days']} days, {gen['records']:,} records ({gen['landing_mb']:,.0f} MB of "
             f"files) in {gen['seconds']:.0f} s ({gen['records'] / gen['seconds']:,.0f} "
             f"records/s; load average up to {gen.get('load_max', 0):.1f}), generator peak RSS "
             f"{gen['peak_rss_mb']:,.0f} MB. The measured nights "
             f"follow {sum(1 for r in result['records'] if str(r.get('phase')).startswith('warmup'))} "
             f"warm-up nights ({'full nightlies' if result['warmup_mode'] == 'full' else 'staging load only'}"
             f"), so the 14-day window and the billing snapshots are at steady state. "
             f"DuckDB memory_limit {result['memory_limit']}, threads {result['threads']}; "
             f"warehouse {result['warehouse_mb']:,.0f} MB at the end.", "",
             "Stages are the engine calls of the Dagster assets, one writer connection per step "
             "(per feed for staging), in "
             + ("a child process of its own per night (as Dagster's default run launcher starts "
                "one process per run)" if result["process"] == "per-night" else
                "one child process for all nights (as `chartledger run` over a range)")
             + "; \"process\" peak = that process's VmHWM, "
             "reset at each stage; \"tree\" = the summed RSS of the child and its descendants, "
             "sampled every 0.1 s by the parent. rows/s = the night's staging rows / the stage's "
             "seconds. Load avg = the highest 1-minute load average sampled during the stage "
             "(2 CPUs: above about 2, other work shared them).", ""]
    parts += stage_table(result) + [""]
    parts += [f"- Night end to end (engine stages): {night_s:.1f} s, peak {night_peak:,.0f} MB "
              f"(target at 1,000,000 rows/day: <= {TARGET_NIGHT_S:.0f} s, <= {TARGET_NIGHT_MB} MB"
              + (f": {_met(night_s <= TARGET_NIGHT_S and night_peak <= TARGET_NIGHT_MB)})."
                 if rpd == 1_000_000 else ")."), *dagster_lines(result), *flatness_lines(result),
              "", "Staging by feed (median night):", ""]
    parts += feed_table(result) + [""]
    parts += close_lines(result) + [""]
    parts += ["Every night:", ""] + nights_table(result) + [""]
    parts += profile_lines(result) + [""]
    return "\n".join(parts).rstrip() + "\n"


# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows-per-day", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--period", default="2026-11", help="month of the measured nights (YYYY-MM)")
    p.add_argument("--nights", type=int, default=3, help="measured nights (when not --month)")
    p.add_argument("--month", action="store_true",
                   help="measure every night of --period and close it (for --month-scales, "
                        "or every scale when none is named)")
    p.add_argument("--month-scales", type=int, nargs="*", default=[])
    p.add_argument("--month-full-nights", type=int, default=0,
                   help="with --month: only the month's last N nights are full nightlies, the "
                        "others load staging only (a 30 M-row month closed in feasible time)")
    p.add_argument("--warmup", type=int, default=21, help="nights before the measured ones")
    p.add_argument("--warmup-mode", choices=("full", "staging"), default="full")
    p.add_argument("--profile-scales", type=int, nargs="*", default=[],
                   help="rows/day values whose extra night is profiled with pyinstrument")
    p.add_argument("--dagster-scales", type=int, nargs="*", default=[],
                   help="rows/day values with one extra night through `chartledger run`")
    p.add_argument("--process", choices=("per-night", "one"), default="per-night",
                   help="a child process per night (default) or one for all nights")
    p.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit (config default)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--quiet-load", type=float, default=0.0,
                   help="wait until the 1-minute load average is below this before each scale")
    p.add_argument("--max-wait", type=float, default=1800.0)
    p.add_argument("--work", type=Path, help="work directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep landing files and warehouses")
    p.add_argument("--generate-only", action="store_true",
                   help="generate (or check) each scale's landing files and stop; a later run "
                        "with the same --work and options reuses them")
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    p.add_argument("--report-from", type=Path, nargs="+",
                   help="only (re)write the RESULTS.md sections of saved nightly_scale_*.json")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    if args.report_from:
        for path in args.report_from:
            result = json.loads(path.read_text(encoding="utf-8"))
            section = markdown_section(result, result["machine"], result["command"])
            print(section)
            if not args.no_results:
                kit.replace_section(section_heading(result), section)
        return 0
    created = args.work is None
    args.work = Path(args.work or tempfile.mkdtemp(prefix="chartledger-scale-")).resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    command = "python bench/nightly_scale.py " + " ".join(sys.argv[1:] if argv is None else argv)
    machine = kit.machine_info()
    print(kit.machine_line(machine), f"\nwork directory {args.work}", flush=True)
    period_start = dt.date.fromisoformat(args.period + "-01")
    cal = kit.cached_calibration(args.work, kit.FACILITIES, args.warmup,
                                 period_start - args.warmup * DAY, args.seed)
    print(f"calibration: rows of day {args.warmup + 1} = {cal.fixed:,.0f} + {cal.per_visit:.2f} "
          f"x visits/day ({cal.points})", flush=True)
    try:
        for rpd in args.rows_per_day:
            result = run_scale(args, rpd, cal)
            if result is None:
                continue
            result.update(machine=machine, command=command, measured_on=str(dt.date.today()))
            (args.work / f"nightly_scale_{rpd}.json").write_text(
                json.dumps(result, indent=1, default=str), encoding="utf-8")
            section = markdown_section(result, machine, command)
            print("\n" + section, flush=True)
            if not args.no_results:
                kit.replace_section(section_heading(result), section)
    finally:
        if created and not (args.keep or args.generate_only):
            shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
