"""The run audit trail (ops.run_log): who started what, on which inputs, producing what."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from reconcile.sqlfiles import run_sql_file


@dataclass
class StepAudit:
    """Collects one step's inputs and outputs; `write` appends it to ops.run_log."""

    run_id: str
    partition_key: str | None
    step: str
    started_by: str
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0))
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)  # table -> rows; "error" -> its type
    outcome: str = "success"  # success | blocked (a blocking check failed) | failed

    def write(self, con: duckdb.DuckDBPyConnection, outcome: str | None = None) -> None:
        """Append the step's row with `outcome` (default: self.outcome)."""
        outcome = outcome or self.outcome
        run_sql_file(con, "ops/run_log_insert.sql", {
            "run_id": self.run_id, "partition_key": self.partition_key, "step": self.step,
            "started_by": self.started_by, "inputs": json.dumps(self.inputs, sort_keys=True),
            "outputs": json.dumps(self.outputs, sort_keys=True),
            "started_at": self.started_at.isoformat(),
            "finished_at": dt.datetime.now().replace(microsecond=0).isoformat(),
            "outcome": outcome,
        })


def started_by(tags: dict[str, str]) -> str:
    """schedule:<name>, sensor:<name>, backfill:<id>, rerun:<parent run id>, cli, or user
    (launched from the UI)."""
    if "dagster/schedule_name" in tags:
        return f"schedule:{tags['dagster/schedule_name']}"
    if "dagster/sensor_name" in tags:
        return f"sensor:{tags['dagster/sensor_name']}"
    if "dagster/backfill" in tags:
        return f"backfill:{tags['dagster/backfill']}"
    if "dagster/parent_run_id" in tags:
        return f"rerun:{tags['dagster/parent_run_id']}"
    return tags.get("chartledger/started_by", "user")
