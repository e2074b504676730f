"""Close the Dagster runs of `chartledger` processes that died (SIGKILL, power loss) mid-run.

Such a run stays STARTED in the instance and keeps its slot of the `warehouse` pool, so every
later run of any partition would wait for that slot forever. A CLI run holds its warehouse's
run lock (reconcile/run_lock.py) from before its Dagster runs start until they end: a STARTED
CLI run whose warehouse lock nobody holds (or whose warehouse is the one the caller has just
locked) has no process left. It is marked failed and its pool slots are freed. Runs launched
by the UI or the daemon are left to the daemon's run monitoring.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from reconcile.run_lock import run_lock_is_held

UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def recover_dead_cli_runs(instance: dg.DagsterInstance, locked_warehouse: Path) -> list[str]:
    """Mark the dead CLI runs failed and free their slots; their run ids. Call while holding the
    run lock of `locked_warehouse`."""
    mine = locked_warehouse.resolve()
    recovered = []
    for run in instance.get_runs(filters=dg.RunsFilter(
            statuses=UNFINISHED, tags={"chartledger/started_by": "cli"})):
        config = run.run_config.get("resources", {}).get("chartledger", {}).get("config", {})
        if not config.get("warehouse"):
            continue
        warehouse = Path(config["warehouse"]).resolve()
        if warehouse != mine and run_lock_is_held(warehouse):
            continue  # another live chartledger process runs it
        instance.report_run_failed(run, message=f"the chartledger process of this run ended "
                                   f"without finishing it; marked failed by a later run of "
                                   f"{mine}")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered
