"""Reports: the month-end close package, one monthly partition per period."""

from pathlib import Path

import dagster as dg

from assets.partitions import PARTITIONS_START
from assets.recon import exceptions
from assets.schemas import table_metadata
from assets.steps import audited_step
from reconcile.close.package import CloseNotReady, build_close
from reconcile.publish import publish
from resources.chartledger import ChartLedgerResource

monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=PARTITIONS_START[:7] + "-01")


class CloseConfig(dg.Config):
    preliminary: bool = False  # allow a close before the period's last day is reconciled
    out_dir: str = ""  # default: the configured outputs folder (outputs/ beside the warehouse)


@dg.asset(
    key=["reports", "close_package"],
    group_name="reports",
    partitions_def=monthly_partitions,
    deps=[exceptions],
    pool="warehouse",
    kinds={"duckdb", "excel", "html"},
    owners=["team:finance-close"],
    tags={"layer": "reports"},
    metadata=table_metadata("report.close_checklist"),
    description="The month-end close package (report.*): checklist with ready-to-close, revenue "
    "tie-out and cut-off, unbilled accrual, exception summary with aging, KPIs and trend, plus "
    "the Excel workbook and HTML report in outputs/close/<YYYY-MM>/. Refused before the "
    "period's last day is reconciled unless preliminary.",
)
def close_package(context: dg.AssetExecutionContext, config: CloseConfig,
                  chartledger: ChartLedgerResource) -> dg.MaterializeResult:
    settings = chartledger.settings()
    period = context.partition_key[:7]
    with audited_step(context, chartledger, "reports/close_package", period) as (audit, con):
        try:
            result = build_close(con, settings, period, config.preliminary, context.run.run_id)
        except CloseNotReady as exc:
            raise dg.Failure(description=str(exc)) from exc
        out_dir = (Path(config.out_dir) if config.out_dir else settings.outputs) / "close" / period
        files = _render(con, period, out_dir)
        publish(con, settings.analyst_path)
        audit.outputs = {"report.close_checklist": len(result.ready_to_close),
                         "preliminary": int(result.preliminary)}
    return dg.MaterializeResult(metadata={
        "period": period,
        "as_of_date": result.as_of.isoformat(),
        "preliminary": result.preliminary,
        "ready_to_close": dg.MetadataValue.json(result.ready_to_close),
        **{kind: dg.MetadataValue.path(str(path)) for kind, path in files.items()},
    })


def _render(con, period: str, out_dir: Path) -> dict[str, Path]:
    from reconcile.close.render_excel import write_workbook
    from reconcile.close.render_html import write_html

    out_dir.mkdir(parents=True, exist_ok=True)
    return {"workbook": write_workbook(con, period, out_dir),
            "html_report": write_html(con, period, out_dir)}
