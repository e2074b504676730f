"""Run the nightly job in process, day by day, for `chartledger run` and `chartledger demo`.

It executes the same Definitions the UI serves, against a persistent Dagster instance (DAGSTER_HOME,
else `dagster_home/` beside the warehouse) so the UI shows these runs afterwards.
"""

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from reconcile.config import Settings
from reconcile.run_lock import run_lock
from reconcile.sqlfiles import query_sql_file
from reconcile.warehouse import Warehouse

INSTANCE_YAML = """\
# Dagster instance for ChartLedger runs. The warehouse pool serializes DuckDB writers.
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""


@dataclass
class DayOutcome:
    day: dt.date
    ok: bool
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)


@dataclass
class RangeOutcome:
    dagster_home: Path
    days: list[DayOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.days)


def prepare_dagster_home(settings: Settings) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or settings.warehouse_path.parent / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML, encoding="utf-8")
    return home


def run_range(settings: Settings, start: dt.date, end: dt.date,
              config_file: Path | None = None, echo: bool = True) -> RangeOutcome:
    """Materialize the nightly job for every date from start to end; print progress and a summary.
    Holds the warehouse's run lock throughout (RunLockBusy if another run holds it)."""
    with run_lock(settings.warehouse_path, f"run {start}..{end}"):
        return _run_range_locked(settings, start, end, config_file, echo)


def _run_range_locked(settings: Settings, start: dt.date, end: dt.date,
                      config_file: Path | None, echo: bool) -> RangeOutcome:
    home = prepare_dagster_home(settings)
    earliest = min(start, dt.date(2025, 1, 1)).isoformat()
    os.environ.setdefault("CHARTLEDGER_PARTITIONS_START", earliest)
    import dagster as dg

    from assets.definitions import defs
    from assets.run_recovery import recover_dead_cli_runs

    instance = dg.DagsterInstance.from_config(str(home))
    recover_dead_cli_runs(instance, settings.warehouse_path)
    job = defs.resolve_job_def("nightly")
    resource_config = {
        "config_file": str(config_file.resolve()) if config_file else "",
        "landing_root": str(settings.landing_root),
        "warehouse": str(settings.warehouse_path),
    }
    run_config = {
        "resources": {"chartledger": {"config": resource_config}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    Warehouse(settings.warehouse_path, settings.duckdb).ensure_schema()
    outcome = RangeOutcome(dagster_home=home)
    day = start
    while day <= end:
        result = job.execute_in_process(
            partition_key=day.isoformat(), instance=instance, run_config=run_config,
            raise_on_error=False, tags={"chartledger/started_by": "cli"},
        )
        failed_steps = [e.step_key for e in result.all_events if e.is_step_failure]
        failed_checks = [  # blocking (ERROR) checks; a missing feed is a WARN and is reported
            e.asset_key.to_user_string()
            for e in result.get_asset_check_evaluations()
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        ]
        day_outcome = DayOutcome(day, result.success and not failed_checks, failed_steps,
                                 failed_checks)
        outcome.days.append(day_outcome)
        if echo:
            _print_progress(settings, day_outcome)
        day += dt.timedelta(days=1)
    if echo:
        print_summary(settings, start, end, outcome)
    return outcome


def _print_progress(settings: Settings, day: DayOutcome) -> None:
    with Warehouse(settings.warehouse_path, settings.duckdb).reader() as con:
        arrived, missing, rows, rejected, files_rejected, findings = query_sql_file(
            con, "ops/day_progress.sql", {"day": day.day}).fetchone()
    state = "ok"
    if day.failed_steps:
        state = "FAILED " + ", ".join(day.failed_steps)
    elif day.failed_checks:
        state = "BLOCKED by " + ", ".join(day.failed_checks)
    print(f"  {day.day}  feeds {arrived} arrived, {missing} missing  rows {rows:,} loaded, "
          f"{rejected:,} rejected  files rejected {files_rejected}  findings {findings}  "
          f"[{state}]", flush=True)


def print_summary(settings: Settings, start: dt.date, end: dt.date,
                  outcome: RangeOutcome) -> None:
    with Warehouse(settings.warehouse_path, settings.duckdb).reader() as con:
        feeds = query_sql_file(con, "ops/range_summary.sql", {"start": start, "end": end}
                               ).fetchall()
        open_rows = query_sql_file(con, "recon/open_summary.sql").fetchall()
    print(f"\nSummary {start} .. {end} ({len(outcome.days)} days, "
          f"{sum(1 for d in outcome.days if not d.ok)} with failures)")
    print(f"  {'feed':<24}{'rows loaded':>14}{'rejected':>10}{'missing':>9}{'bad files':>11}")
    for feed, loaded, rejected, missing, _incomplete, bad in feeds:
        print(f"  {feed:<24}{loaded:>14,}{rejected:>10,}{missing:>9}{bad:>11}")
    print(f"  {'open exceptions by rule':<24}{'count':>14}{'dollars':>16}")
    for rule_id, count, dollars in open_rows:
        print(f"  {rule_id:<24}{count:>14,}{dollars:>16,.2f}")
    if not open_rows:
        print("  (none)")


def run_close(settings: Settings, period: str, preliminary: bool, out_dir: Path | None,
              config_file: Path | None = None) -> bool:
    """Materialize the close package of `period` in process; print where its outputs are.
    Holds the warehouse's run lock throughout (RunLockBusy if another run holds it)."""
    with run_lock(settings.warehouse_path, f"close {period}"):
        return _run_close_locked(settings, period, preliminary, out_dir, config_file)


def _run_close_locked(settings: Settings, period: str, preliminary: bool, out_dir: Path | None,
                      config_file: Path | None) -> bool:
    home = prepare_dagster_home(settings)
    os.environ.setdefault("CHARTLEDGER_PARTITIONS_START", "2025-01-01")
    import dagster as dg

    from assets.definitions import defs
    from assets.run_recovery import recover_dead_cli_runs

    instance = dg.DagsterInstance.from_config(str(home))
    recover_dead_cli_runs(instance, settings.warehouse_path)
    job = defs.resolve_job_def("close")
    run_config = {
        "resources": {"chartledger": {"config": {
            "config_file": str(config_file.resolve()) if config_file else "",
            "landing_root": str(settings.landing_root),
            "warehouse": str(settings.warehouse_path),
        }}},
        "ops": {"reports__close_package": {"config": {
            "preliminary": preliminary, "out_dir": str(out_dir.resolve()) if out_dir else ""}}},
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    result = job.execute_in_process(partition_key=f"{period}-01", instance=instance,
                                    run_config=run_config, raise_on_error=False,
                                    tags={"chartledger/started_by": "cli"})
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        for event in failures:
            error = event.step_failure_data.user_failure_data
            message = error.description if error else event.step_failure_data.error.message
            print(f"close {period}: {message.strip()}")
        return False
    materialization = result.asset_materializations_for_node("reports__close_package")[0]
    meta = materialization.metadata
    print(f"close {period}{' (PRELIMINARY)' if meta['preliminary'].value else ''}: as of "
          f"{meta['as_of_date'].value}; ready to close: {meta['ready_to_close'].value}")
    for kind in ("workbook", "html_report"):
        if kind in meta:
            print(f"  {kind:<12} {meta[kind].value}")
    print(f"  analyst db   {settings.analyst_path}")
    return True
