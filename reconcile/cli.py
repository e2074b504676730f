"""The `chartledger` command: generate demo feeds, run the nightly graph over a range, the demo."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

from reconcile.config import ConfigError, Settings, default_settings, load_settings
from reconcile.run_lock import RunLockBusy
from reconcile.warehouse import WarehouseBusyError, WarehouseCorruptError, WarehouseDiskFullError

log = logging.getLogger("chartledger")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chartledger",
        description="Nightly ETL and reconciliation of clinical activity against financial "
        "postings.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write the demo health system's feeds")
    from reconcile.demo.cli_args import add_generate_arguments

    add_generate_arguments(gen)

    run = sub.add_parser("run", help="materialize the nightly graph for each day of a range")
    run.add_argument("--landing", type=Path, help="landing root (overrides the config)")
    run.add_argument("--warehouse", type=Path, help="DuckDB warehouse file (overrides the config)")
    run.add_argument("--start", type=_date, required=True, help="first business date")
    run.add_argument("--end", type=_date, required=True, help="last business date (inclusive)")
    run.add_argument("--config", type=Path, help="ChartLedger TOML configuration")

    close = sub.add_parser("close", help="build the month-end close package of a period")
    close.add_argument("--warehouse", type=Path, help="DuckDB warehouse file (overrides the config)")
    close.add_argument("--period", required=True, help="the period, YYYY-MM")
    close.add_argument("--preliminary", action="store_true",
                       help="allow a close before the period's last day is reconciled")
    close.add_argument("--out", type=Path,
                       help="output folder (default: outputs/ beside the warehouse); files go to "
                       "OUT/close/<YYYY-MM>/")
    close.add_argument("--config", type=Path, help="ChartLedger TOML configuration")

    demo = sub.add_parser("demo", help="generate a month for the demo system and run it")
    demo.add_argument("--dir", type=Path, default=Path("demo"), help="working folder (./demo)")
    demo.add_argument("--start", type=_date, default=dt.date(2026, 10, 1),
                      help="first day of the demo month (default 2026-10-01)")
    demo.add_argument("--days", type=int, default=31, help="days to generate and run (31)")
    demo.add_argument("--visits-per-day", type=int, default=25,
                      help="new visits per facility per day (25)")
    demo.add_argument("--seed", type=int, default=7)

    reb = sub.add_parser("rebuild", help="rebuild the warehouse from the landing archive")
    reb.add_argument("--from", dest="start", type=_date, required=True, metavar="DATE",
                     help="first business date to replay")
    reb.add_argument("--to", dest="end", type=_date, required=True, metavar="DATE",
                     help="last business date to replay (inclusive)")
    reb.add_argument("--landing", type=Path, help="landing root (overrides the config)")
    reb.add_argument("--warehouse", type=Path,
                     help="warehouse file to rebuild (overrides the config); the old file is "
                     "kept beside it as <name>.bak-<timestamp>")
    reb.add_argument("--config", type=Path, help="ChartLedger TOML configuration")

    pub = sub.add_parser("publish", help="publish the analyst database now (incremental: only "
                         "what changed since the previous one is written)")
    pub.add_argument("--warehouse", type=Path, help="DuckDB warehouse file (overrides the config)")
    pub.add_argument("--full", action="store_true",
                     help="write it from scratch instead of starting from the previous one")
    pub.add_argument("--config", type=Path, help="ChartLedger TOML configuration")

    fetch = sub.add_parser("fetch", help="fetch one extract date's feeds over the configured "
                           "channels (SFTP, REST API, FHIR Bulk, SQL) into the landing directory")
    fetch.add_argument("--config", type=Path, required=True, help="ChartLedger TOML configuration")
    fetch.add_argument("--date", type=_date, required=True, help="extract date to fetch")
    fetch.add_argument("--feed", action="append", dest="feeds", metavar="FEED",
                       help="only this feed (repeatable; default: every feed with a channel)")

    serve = sub.add_parser("serve-demo", help="serve the demo system's feeds over real channels on "
                           "loopback (SFTP, vendor APIs, FHIR Bulk, SQL) and write a configuration "
                           "that fetches from them")
    serve.add_argument("--source", type=Path, required=True,
                       help="a landing directory written by `chartledger generate`")
    serve.add_argument("--dir", type=Path, required=True,
                       help="working folder: remote trees, the SQL database, a new empty landing "
                       "directory and chartledger.toml")

    syn = sub.add_parser("synthea", help="load a Synthea CSV export and reconcile its charges")
    syn.add_argument("synthea_dir", type=Path, metavar="SYNTHEA_DIR", help="the export's folder")
    syn.add_argument("--warehouse", type=Path, required=True,
                     help="DuckDB file for this export (created, or replacing a previous "
                     "Synthea load; any other warehouse is refused)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from reconcile.faults import arm_from_environment

    arm_from_environment()  # test-only: a no-op unless CHARTLEDGER_FAULT_POINT is set
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "generate":
            return cmd_generate(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "close":
            return cmd_close(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "synthea":
            return cmd_synthea(args)
        if args.command == "rebuild":
            return cmd_rebuild(args)
        if args.command == "fetch":
            return cmd_fetch(args)
        if args.command == "publish":
            return cmd_publish(args)
        if args.command == "serve-demo":
            return cmd_serve_demo(args)
    except ConfigError as exc:
        print(f"chartledger: configuration error: {exc}", file=sys.stderr)
        return 2
    except (RunLockBusy, WarehouseBusyError, WarehouseCorruptError, WarehouseDiskFullError) as exc:
        print(f"chartledger: {exc}", file=sys.stderr)
        return 3
    return 2


def cmd_generate(args: argparse.Namespace) -> int:
    from reconcile.demo.cli_args import options_from_args
    from reconcile.demo.generator import generate

    out_dir, options = options_from_args(args)
    started = time.monotonic()
    summary = generate(out_dir, options)
    rows = sum(summary.rows_by_feed.values())
    print(f"wrote {summary.files} files, {rows:,} rows, "
          f"{sum(summary.defects_by_rule.values())} injected defects to {out_dir} "
          f"in {time.monotonic() - started:.1f}s (ground truth: {out_dir / 'truth.csv'})")
    return 0


def resolve_settings(config: Path | None, landing: Path | None,
                     warehouse: Path | None) -> Settings:
    if config:
        settings = load_settings(config)
    elif landing and warehouse:
        settings = default_settings(landing.resolve(), warehouse.resolve())
    else:
        raise ConfigError("give --config, or both --landing and --warehouse")
    return settings.with_overrides(
        landing_root=landing.resolve() if landing else None,
        warehouse_path=warehouse.resolve() if warehouse else None,
    )


def cmd_run(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise ConfigError("--end is before --start")
    settings = resolve_settings(args.config, args.landing, args.warehouse)
    if not settings.landing_root.is_dir():
        raise ConfigError(f"landing directory {settings.landing_root} does not exist")
    from assets.runner import run_range

    outcome = run_range(settings, args.start, args.end, config_file=args.config)
    return 0 if outcome.ok else 1


def cmd_publish(args: argparse.Namespace) -> int:
    if args.config:
        settings = resolve_settings(args.config, None, args.warehouse)
    elif args.warehouse:  # the landing directory plays no part in a publish
        settings = default_settings(args.warehouse.resolve().parent, args.warehouse.resolve())
    else:
        raise ConfigError("give --config or --warehouse")
    if not settings.warehouse_path.exists():
        raise ConfigError(f"warehouse {settings.warehouse_path} does not exist")
    from reconcile.publish import publish_with_summary
    from reconcile.warehouse import Warehouse

    with Warehouse(settings.warehouse_path, settings.duckdb).writer() as con:
        summary = publish_with_summary(con, settings.analyst_path, full=args.full or None)
    how = summary.mode + (f" ({summary.reason})" if summary.reason else "")
    print(f"published {summary.target}: {how}, {summary.rows_written:,} rows written in "
          f"{summary.seconds:.1f} s")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from reconcile.channels.fetch import fetch_day
    from reconcile.warehouse import Warehouse

    settings = load_settings(args.config)
    if not settings.channels:
        raise ConfigError(f"{args.config} defines no [channels.*] section: nothing to fetch")
    warehouse = Warehouse(settings.warehouse_path, settings.duckdb)
    result = fetch_day(settings, args.date, warehouse, only_feeds=args.feeds)
    for s in result.stats:
        print(f"{s.channel:<10} {s.feed:<24} {s.outcome:<12} {s.files_fetched:>3} files "
              f"{s.rows_fetched:>9,} rows {s.bytes_fetched:>12,} bytes {s.retries:>3} retries")
    for failure in result.failures:
        print(f"chartledger: fetch failed: {failure}", file=sys.stderr)
    return 1 if result.failures else 0


def cmd_serve_demo(args: argparse.Namespace) -> int:
    from reconcile.demo.serve import DemoServers

    if not args.source.is_dir():
        raise ConfigError(f"source directory {args.source} does not exist")
    import signal
    import threading

    stop = threading.Event()
    # explicit handlers: SIGTERM is what a service manager sends, and a parent that ignores
    # SIGINT (as test runners' workers do) would otherwise pass that on to this process
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with DemoServers(args.source.resolve(), args.dir.resolve()) as servers:
        print(servers.describe())
        print(f"configuration: {servers.config_path}\n(Ctrl-C or SIGTERM stops the servers)",
              flush=True)
        stop.wait()
    return 0


def cmd_close(args: argparse.Namespace) -> int:
    from reconcile.close.package import period_bounds

    try:
        period_bounds(args.period)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if args.config:
        settings = resolve_settings(args.config, None, args.warehouse)
    elif args.warehouse:
        warehouse = args.warehouse.resolve()
        settings = default_settings(warehouse.parent, warehouse)
    else:
        raise ConfigError("give --warehouse or --config")
    if not settings.warehouse_path.is_file():
        raise ConfigError(f"warehouse {settings.warehouse_path} does not exist")
    from assets.runner import run_close

    ok = run_close(settings, args.period, args.preliminary, args.out, config_file=args.config)
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from assets.runner import run_close, run_range
    from reconcile.config import render_settings
    from reconcile.demo.generator import GeneratorOptions, generate

    work = args.dir.resolve()
    landing = work / "landing"
    warehouse = work / "warehouse.duckdb"
    options = GeneratorOptions(start=args.start, days=args.days,
                               visits_per_day=args.visits_per_day, seed=args.seed)
    started = time.monotonic()
    print(f"1/2 generating {args.days} days of the demo health system into {landing} ...")
    summary = generate(landing, options)
    print(f"    {summary.files} files, {sum(summary.rows_by_feed.values()):,} rows, "
          f"{sum(summary.defects_by_rule.values())} injected defects "
          f"({time.monotonic() - started:.1f}s)")
    settings = default_settings(landing, warehouse)
    settings = Settings(landing_root=landing, warehouse_path=warehouse,
                        facilities=options.facilities, thresholds=settings.thresholds)
    config_path = work / "chartledger.toml"
    config_path.write_text(render_settings(settings), encoding="utf-8")
    end = args.start + dt.timedelta(days=args.days - 1)
    print(f"2/3 running {args.start} .. {end} ...")
    outcome = run_range(settings, args.start, end, config_file=config_path)
    period = args.start.strftime("%Y-%m")
    print(f"\n3/3 month-end close {period} ...")
    closed = run_close(settings, period, preliminary=True, out_dir=None, config_file=config_path)
    home = outcome.dagster_home
    print(
        "\nDemo ready.\n"
        f"  warehouse     {warehouse}  (the pipeline's own file)\n"
        f"  analyst db    {settings.analyst_path}  (+ DATA_DICTIONARY.md beside it)\n"
        f"  close package {settings.outputs / 'close' / period}  (.xlsx and .html)\n"
        f"  daily digests {settings.outputs / 'digest'}\n"
        f"  configuration {config_path}\n"
        f"  ground truth  {landing / 'truth.csv'}\n"
        f"  query it      .venv/bin/python -c \"import duckdb; print(duckdb.connect("
        f"'{settings.analyst_path}', read_only=True).sql('SELECT rule_id, count(*), "
        "sum(amount_impact) FROM recon.open_exceptions GROUP BY 1 ORDER BY 3 DESC'))\"\n"
        f"  open the UI   DAGSTER_HOME={home} CHARTLEDGER_CONFIG={config_path} "
        f"CHARTLEDGER_PARTITIONS_START={args.start} .venv/bin/dagster dev -w workspace.yaml\n"
        "                then http://127.0.0.1:3000 (Assets > Global asset lineage)"
    )
    return 0 if outcome.ok and closed else 1


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Replay the landing archive into a new warehouse through the nightly job, then swap it in."""
    if args.end < args.start:
        raise ConfigError("--to is before --from")
    settings = resolve_settings(args.config, args.landing, args.warehouse)
    if not settings.landing_root.is_dir():
        raise ConfigError(f"landing directory {settings.landing_root} does not exist")
    from assets.runner import prepare_dagster_home, run_range
    from reconcile.rebuild import RebuildError, rebuild

    # the replayed runs are recorded in the instance of the warehouse being rebuilt
    os.environ.setdefault("DAGSTER_HOME", str(prepare_dagster_home(settings)))

    def replay(fresh: Settings) -> bool:
        outcome = run_range(fresh, args.start, args.end, config_file=args.config)
        return not any(day.failed_steps for day in outcome.days)

    try:
        result = rebuild(settings, args.start, args.end, replay)
    except RebuildError as exc:
        print(f"chartledger: {exc}", file=sys.stderr)
        return 1
    print(f"\nrebuilt {result.warehouse} from {settings.landing_root} ({args.start} .. {args.end})")
    print(f"  previous file kept as {result.backup or '(there was none)'}")
    if result.carried_over:
        print(f"  carried over from it: {', '.join(result.carried_over)}")
    for line in result.not_carried_over:
        print(f"  NOT carried over (unreadable in the old file): {line}")
    return 0


def cmd_synthea(args: argparse.Namespace) -> int:
    from reconcile.synthea import SyntheaError, run_synthea

    try:
        result = run_synthea(args.synthea_dir, args.warehouse.resolve())
    except SyntheaError as exc:
        print(f"chartledger: {exc}", file=sys.stderr)
        return 2
    print(f"loaded {result.visits} visits, {result.documented_items} documented items and "
          f"{result.charge_lines} charge lines ({result.first_service_date} .. "
          f"{result.last_service_date}, {result.facilities} facilities) into {result.warehouse}")
    print(f"open exceptions as of {result.load_date}:")
    for rule_id, count in result.open_by_rule.items():
        print(f"  {rule_id:<22} {count}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

