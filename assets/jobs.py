"""Jobs: the nightly run of one business date, and the month-end close of one period.

Steps run in the run's own process by default: all but one of them write the DuckDB warehouse
and take turns in the `warehouse` pool anyway, so a process per step would only add start-up
time. CHARTLEDGER_EXECUTOR=multiprocess runs each step in its own process instead (isolation);
scale-out comes from running partitions (days) side by side, see docs/deployment.md.
"""

import os

import dagster as dg

EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def job_executor() -> dg.ExecutorDefinition:
    name = os.environ.get("CHARTLEDGER_EXECUTOR", "in_process")
    if name not in EXECUTORS:
        raise ValueError(f"CHARTLEDGER_EXECUTOR={name!r} is not one of {', '.join(EXECUTORS)}")
    return EXECUTORS[name]


NIGHTLY_GROUPS = ("landing", "staging", "canonical", "recon", "publish")

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.groups(*NIGHTLY_GROUPS),
    executor_def=job_executor(),
    description="Land, stage, map and reconcile one business date (re-reconciling the rolling "
    "window of service dates that ends on it).",
)

close_job = dg.define_asset_job(
    "close",
    selection=dg.AssetSelection.groups("reports"),
    executor_def=job_executor(),
    description="Build the month-end close package of a period (monthly partition).",
)

JOBS = [nightly_job, close_job]
