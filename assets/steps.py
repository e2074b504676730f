"""One audited warehouse step: a writer connection and an ops.run_log row, also when it fails."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from reconcile.audit import StepAudit, started_by
from resources.chartledger import ChartLedgerResource


@contextmanager
def audited_step(context: dg.AssetExecutionContext, chartledger: ChartLedgerResource,
                 step: str, partition_key: str | None = None
                 ) -> Iterator[tuple[StepAudit, duckdb.DuckDBPyConnection]]:
    """Yield the step's audit record and a writer connection; append the record on success
    (with `audit.outcome`), or a `failed` row naming only the error's type when the body raises."""
    audit = StepAudit(context.run.run_id, partition_key or context.partition_key, step,
                      started_by(context.run.tags))
    warehouse = chartledger.open_warehouse()
    try:
        with warehouse.writer() as con:
            yield audit, con
            audit.write(con)
    except Exception as exc:
        audit.outputs = {**audit.outputs, "error": type(exc).__name__}  # no message: may hold PHI
        try:
            with warehouse.writer() as con:
                audit.write(con, "failed")
        except Exception as second:  # the audit must never hide the step's own error
            context.log.warning("could not record the failed step in ops.run_log: %s",
                                type(second).__name__)
        raise
