"""The ChartLedger resource: the site's settings and its DuckDB warehouse, for every asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from reconcile.config import Settings, default_settings, load_settings
from reconcile.warehouse import Warehouse


class ChartLedgerResource(dg.ConfigurableResource):
    """Settings come from `config_file` (TOML); `landing_root`/`warehouse` override its paths.

    In the UI these default to the environment (CHARTLEDGER_CONFIG, CHARTLEDGER_LANDING,
    CHARTLEDGER_WAREHOUSE); `chartledger run` passes them as run configuration.
    """

    config_file: str = ""
    landing_root: str = ""
    warehouse: str = ""

    def settings(self) -> Settings:
        if self.config_file:
            base = load_settings(Path(self.config_file))
        elif self.landing_root and self.warehouse:
            base = default_settings(Path(self.landing_root), Path(self.warehouse))
        else:
            raise dg.DagsterInvariantViolationError(
                "ChartLedger needs a configuration file (CHARTLEDGER_CONFIG) or both a landing "
                "root (CHARTLEDGER_LANDING) and a warehouse path (CHARTLEDGER_WAREHOUSE)"
            )
        return base.with_overrides(
            landing_root=Path(self.landing_root) if self.landing_root else None,
            warehouse_path=Path(self.warehouse) if self.warehouse else None,
        )

    def open_warehouse(self) -> Warehouse:
        """The warehouse, its schema created on first use in this process."""
        settings = self.settings()
        warehouse = Warehouse(settings.warehouse_path, settings.duckdb)
        key = str(settings.warehouse_path.resolve())
        if key not in _SCHEMA_READY:
            warehouse.ensure_schema()
            _SCHEMA_READY.add(key)
        return warehouse


_SCHEMA_READY: set[str] = set()


def resource_from_environment() -> ChartLedgerResource:
    import os

    return ChartLedgerResource(
        config_file=os.environ.get("CHARTLEDGER_CONFIG", ""),
        landing_root=os.environ.get("CHARTLEDGER_LANDING", ""),
        warehouse=os.environ.get("CHARTLEDGER_WAREHOUSE", ""),
    )
