"""Full vs incremental publish of the analyst database as nights accumulate (issue 8).

Builds a warehouse (the real DDL of sql/ddl) night after night with synthetic recon and ops
tables shaped like the engine's at `--rows-per-day` staging rows per day: per night a new
service date of match evidence (ratios to staging rows measured on the demo system: charge
matches 0.21, their lines 0.42, pharmacy 0.072, supplies 0.021, new exceptions 0.005), a change
set over the 14-day window (a few percent of its keys re-recorded with the night's as_of_date,
new lines under old keys), every open exception seen again (age_days, last_seen_run), some
resolved, one exception event per open exception, and the ops rows of a night. After each night
the incremental publish updates `analyst.duckdb` (as production does); at the checkpoint nights a
full publish writes `full.duckdb` from scratch, and both are timed with this process's peak RSS
(VmHWM reset before each) and compared table by table (count and sum of row hashes).

    flock /tmp/chartledger-bench.lock .venv/bin/python bench/publish_incremental.py \
        --rows-per-day 1000000 --nights 30 --checkpoints 1,10,20,30 [--write-results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scale_kit as kit  # noqa: E402
from reconcile.config import DuckDBSettings  # noqa: E402
from reconcile.publish import load_dictionary, publish_with_summary  # noqa: E402
from reconcile.warehouse import Warehouse  # noqa: E402

HEADING = "## Incremental publish (issue 8)"
RATIOS = {"charge_matches": 0.21, "charge_match_lines": 0.42, "pharmacy_matches": 0.072,
          "supply_matches": 0.021, "exceptions": 0.005}
WINDOW = 14
FEEDS = 22  # files landed per night in the demo system

NIGHT_SQL = """
-- charge matches: the new service date, then a change set over the window
INSERT INTO recon.charge_matches
SELECT $d, 'F' || (i % 9), 'V' || $k || '-' || (i // 7), 'CDM' || (i % 7), $d,
       (i % 5)::DECIMAL(18,3), (i % 5)::DECIMAL(18,3), ((i % 997) * 1.25)::DECIMAL(18,2),
       CASE WHEN i % 50 = 0 THEN 'missing' WHEN i % 23 = 0 THEN 'pending' ELSE 'matched' END
FROM range($cm) t(i);
UPDATE recon.charge_matches SET as_of_date = $d, posted_qty = expected_qty,
       match_status = 'matched'
WHERE service_date BETWEEN $d - INTERVAL ($w - 1) DAY AND $d - INTERVAL 1 DAY
  AND hash(visit_number, cdm_code, $k) % 100 < 3;
INSERT INTO recon.charge_match_lines
SELECT $d, 'F' || (i % 9), 'V' || $k || '-' || (i // 14), 'CDM' || ((i // 2) % 7), $d,
       CASE WHEN i % 2 = 0 THEN 'documented' ELSE 'posted' END, 'FT' || $k || '-' || i
FROM range($cl) t(i);
INSERT INTO recon.charge_match_lines
SELECT $d, facility, visit_number, cdm_code, service_date, 'posted', 'FTL' || $k || '-' || visit_number
FROM recon.charge_matches
WHERE service_date BETWEEN $d - INTERVAL ($w - 1) DAY AND $d - INTERVAL 1 DAY AND as_of_date = $d;
-- pharmacy and supplies
INSERT INTO recon.pharmacy_matches
SELECT $d, 'F' || (i % 9), 'V' || $k || '-' || (i // 3), 'NDC' || (i % 113),
       (i % 4)::DECIMAL(18,3), (i % 4)::DECIMAL(18,3), $d,
       CASE WHEN i % 40 = 0 THEN 'dispensed_not_administered' ELSE 'matched' END, 'ADC' || i
FROM range($ph) t(i);
UPDATE recon.pharmacy_matches SET as_of_date = $d, administered = dispensed_net
WHERE last_activity BETWEEN $d - INTERVAL ($w - 1) DAY AND $d - INTERVAL 1 DAY
  AND hash(visit_number, ndc, $k) % 100 < 3;
INSERT INTO recon.supply_matches
SELECT $d, 'F' || (i % 9), 'C' || $k || '-' || (i // 4), 'ITEM' || (i % 61), 'V' || $k || '-' || i,
       $d, (i % 3)::DECIMAL(18,3), (i % 3)::DECIMAL(18,3), 'matched', 'INV' || i
FROM range($sp) t(i);
-- the exception lifecycle: new ones, every open one seen again, a few resolved
UPDATE recon.exceptions SET last_seen_run = CAST($d AS VARCHAR), age_days = age_days + 1
WHERE status = 'open';
UPDATE recon.exceptions SET status = 'resolved', resolved_at = $d
WHERE status = 'open' AND hash(exception_id, $k) % 100 < 4;
INSERT INTO recon.exceptions
SELECT 'X' || $k || '-' || i, 'MISSING_CHARGE', 'high', 'department', 'F' || (i % 9), 'D1',
       'CC1', '4000', 'V' || $k || '-' || i, 'CDM1', NULL, $d, 1, 0, 10, 0, 10,
       'A charge is missing.', 'ref', CAST($d AS VARCHAR), CAST($d AS VARCHAR), 'open', NULL, 0
FROM range($ex) t(i);
INSERT INTO recon.exception_events
SELECT exception_id, CAST($d AS VARCHAR),
       CASE WHEN first_seen_run = CAST($d AS VARCHAR) THEN 'opened'
            WHEN resolved_at = $d THEN 'resolved' ELSE 'seen' END, rule_id
FROM recon.exceptions WHERE status = 'open' OR resolved_at = $d;
INSERT INTO recon.rule_runs VALUES ($d, $d - INTERVAL ($w - 1) DAY, $d, 'MISSING_CHARGE', '');
-- ops: the night's files and feed status
INSERT INTO ops.file_manifest
SELECT 'feed' || i || '/' || strftime($d, '%Y%m%d') || '.csv', 'feed' || i, NULL, $d, 1000,
       md5(i || $k), md5($k || i), 100, 100, 0, 'loaded', NULL, 'run-' || $k, now()
FROM range($feeds) t(i);
INSERT INTO ops.feed_status
SELECT $d, 'feed' || i, '*', 'arrived', 1, 100, 0 FROM range($feeds) t(i);
"""


def build_night(con, k: int, day: dt.date, rows_per_day: int) -> None:
    params = {"d": day, "k": k, "w": WINDOW, "feeds": FEEDS,
              **{key: round(rows_per_day * RATIOS[name]) for key, name in (
                  ("cm", "charge_matches"), ("cl", "charge_match_lines"),
                  ("ph", "pharmacy_matches"), ("sp", "supply_matches"), ("ex", "exceptions"))}}
    con.execute("BEGIN TRANSACTION")
    for statement in (s.strip() for s in NIGHT_SQL.split(";")):
        body = "\n".join(ln for ln in statement.splitlines() if not ln.startswith("--")).strip()
        if body:
            used = {p: v for p, v in params.items() if f"${p}" in body}
            con.execute(body, used)
    con.execute("COMMIT")


def timed_publish(warehouse: Warehouse, target: Path, full: bool) -> dict:
    kit.reset_peak()
    load = kit.load1()
    t0 = time.perf_counter()
    with warehouse.writer() as con:
        summary = publish_with_summary(con, target, full=full)
    seconds = time.perf_counter() - t0
    return {"mode": summary.mode, "reason": summary.reason, "seconds": round(seconds, 2),
            "peak_mb": round(kit.peak_mb()), "rows_written": summary.rows_written,
            "replaced": {n.split(".")[1]: f"{t.replaced}/{t.partitions}"
                         for n, t in summary.tables.items() if t.replaced},
            "file_mb": round(target.stat().st_size / 2**20, 1), "load1": round(max(load, kit.load1()), 2)}


def fingerprints(path: Path) -> dict[str, tuple]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for table in load_dictionary():
            cols = ", ".join(f'"{c}"' for c in table.columns)
            out[table.name] = con.execute(
                f"SELECT count(*), sum(hash({cols})::HUGEINT) FROM {table.name}").fetchone()
        blocks = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()"
                             ).fetchone()
        return {"tables": out, "blocks": blocks}
    finally:
        con.close()


def blocks(path: Path) -> tuple[int, int]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        total, free = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()"
                                  ).fetchone()
        return free, total
    finally:
        con.close()


def warehouse_rows(warehouse: Warehouse) -> int:
    with warehouse.reader() as con:
        return sum(con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]
                   for t in load_dictionary() if not t.name.startswith("ops.rej"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows-per-day", type=int, default=1_000_000)
    p.add_argument("--nights", type=int, default=30)
    p.add_argument("--checkpoints", default="1,10,20,30")
    p.add_argument("--memory-limit", default="2GB")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("/tmp/chartledger-bench-publish"))
    p.add_argument("--write-results", action="store_true", help="replace the RESULTS.md section")
    args = p.parse_args(argv)
    checkpoints = {int(x) for x in args.checkpoints.split(",") if x}
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    settings = DuckDBSettings(args.memory_limit, args.threads, str(args.work / "duckdb_tmp"))
    warehouse = Warehouse(args.work / "warehouse.duckdb", settings)
    warehouse.ensure_schema()
    analyst, full_target = args.work / "analyst.duckdb", args.work / "full" / "analyst.duckdb"
    full_target.parent.mkdir()
    start = dt.date(2026, 11, 1)
    machine = kit.machine_info()
    rows = []
    print(f"{args.rows_per_day:,} rows/day, {args.nights} nights, checkpoints "
          f"{sorted(checkpoints)}; {kit.machine_line(machine)}", flush=True)
    for k in range(1, args.nights + 1):
        day = start + dt.timedelta(days=k - 1)
        t0 = time.perf_counter()
        with warehouse.writer() as con:
            build_night(con, k, day, args.rows_per_day)
        built = time.perf_counter() - t0
        inc = timed_publish(warehouse, analyst, full=False)
        line = (f"night {k:2d} ({day}): built in {built:5.1f} s; incremental {inc['mode']} "
                f"{inc['seconds']:6.2f} s, peak {inc['peak_mb']:,} MB, {inc['rows_written']:,} "
                f"rows written, file {inc['file_mb']:,} MB ({blocks(analyst)} blocks free of "
                f"all), load {inc['load1']}" + (f" [{inc['reason']}]" if inc["reason"] else ""))
        print(line, flush=True)
        if k not in checkpoints:
            continue
        full = timed_publish(warehouse, full_target, full=True)
        a, b = fingerprints(analyst), fingerprints(full_target)
        same = a["tables"] == b["tables"]
        total = warehouse_rows(warehouse)
        print(f"   checkpoint: full {full['seconds']:.2f} s, peak {full['peak_mb']:,} MB, file "
              f"{full['file_mb']:,} MB ({full['rows_written']:,} rows); incremental file blocks "
              f"{a['blocks']}; equal: {same}; replaced {inc['replaced']}", flush=True)
        if not same:
            diff = {t: (a["tables"][t], b["tables"][t]) for t in a["tables"]
                    if a["tables"][t] != b["tables"][t]}
            raise SystemExit(f"incremental and full publish differ: {diff}")
        rows.append({"night": k, "published_rows": total, "incremental": inc, "full": full,
                     "inc_blocks": a["blocks"], "full_blocks": b["blocks"]})
    (args.work / "publish_incremental.json").write_text(json.dumps(rows, indent=1, default=str))
    text = markdown(rows, args, machine)
    print("\n" + text)
    if args.write_results:
        kit.replace_section(HEADING, text)
    return 0


def markdown(rows: list[dict], args: argparse.Namespace, machine: dict) -> str:
    out = [HEADING, "", kit.machine_line(machine), "",
           f"`bench/publish_incremental.py --rows-per-day {args.rows_per_day} --nights "
           f"{args.nights} --checkpoints {args.checkpoints}` (memory_limit {args.memory_limit}, "
           f"{args.threads} threads), under `flock /tmp/chartledger-bench.lock`. Synthetic recon "
           "and ops tables with the engine's DDL, shaped like the demo system's at that many "
           "staging rows per day (see the script's docstring); one incremental publish per night "
           "into the same analyst.duckdb, a full publish into another file at the checkpoints; "
           "both files equal (count and hash sum per table) at every checkpoint.", "",
           "| night | published rows | full s | full peak MB | incremental s | incremental peak MB "
           "| rows written | file MB (full / incremental) | blocks free (incremental) | load avg 1 min |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f, i = r["full"], r["incremental"]
        out.append(f"| {r['night']} | {r['published_rows']:,} | {f['seconds']:.2f} | "
                   f"{f['peak_mb']:,} | {i['seconds']:.2f} ({i['mode']}) | {i['peak_mb']:,} | "
                   f"{i['rows_written']:,} | {f['file_mb']:,} / {i['file_mb']:,} | "
                   f"{r['inc_blocks'][1]:,} of {r['inc_blocks'][0]:,} | "
                   f"{max(f['load1'], i['load1'])} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
