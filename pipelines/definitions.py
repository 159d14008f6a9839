"""Dagster code location of the engine (`workspace.yaml` loads `defs`)."""

from __future__ import annotations

import dagster as dg

from config.settings import get_settings
from pipelines.defs.graph.assets import observed_service_graph
from pipelines.defs.telemetry.assets import sli_hourly
from pipelines.defs.telemetry.checks import sli_hourly_completeness, sli_hourly_counts_are_possible
from pipelines.resources import OperationalStoreResource, PolarsParquetIOManager, TelemetryResource


def build_resources() -> dict[str, object]:
    settings = get_settings()
    return {
        "telemetry": TelemetryResource.from_settings(settings),
        "store": OperationalStoreResource.from_settings(settings),
        "warehouse_io": PolarsParquetIOManager(base_path=str(settings.warehouse_path)),
    }


DAILY_ASSETS = [sli_hourly, observed_service_graph]
DAILY_CHECKS = [sli_hourly_counts_are_possible, sli_hourly_completeness]

defs = dg.Definitions(
    assets=DAILY_ASSETS,
    asset_checks=DAILY_CHECKS,
    resources=build_resources(),
)
