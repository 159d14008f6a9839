"""A wrong error selector against the real, backfilled Prometheus: errors exceed requests, and
the blocking check on `sli_hourly` fails naming the hours; the right selector passes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dagster as dg
import polars as pl
from sqlalchemy.engine import Engine
from support.history import END

from pipelines.defs.telemetry.assets import sli_hourly
from pipelines.defs.telemetry.checks import sli_hourly_counts_are_possible
from pipelines.resources import OperationalStoreResource, PolarsParquetIOManager, TelemetryResource
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from telemetry.promql import MetricNames

DAY = (END - timedelta(days=2)).date().isoformat()
#: Counts every response as an error, then the 5xx a second time: the kind of selector a
#: misconfigured deployment ends up with (spliced into the errors query's matcher braces).
DOUBLE_COUNTING = (
    'status=~".+"}[1h])) + sum by (service) (increase(' + MetricNames().requests + '{status=~"5.."'
)


def materialize(
    prometheus_fleet: Any, store_url: str, warehouse: str, error_selector: str | None
) -> dg.ExecuteInProcessResult:
    telemetry = TelemetryResource(
        source="prometheus", prometheus_url=prometheus_fleet.url, error_selector=error_selector
    )
    return dg.materialize(
        [sli_hourly, sli_hourly_counts_are_possible],
        resources={
            "telemetry": telemetry,
            "store": OperationalStoreResource(database_url=store_url),
            "warehouse_io": PolarsParquetIOManager(base_path=warehouse),
        },
        partition_key=DAY,
        raise_on_error=False,
    )


def materialization_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.asset_materializations_for_node("sli_hourly")
    return {k: v.value for k, v in event.metadata.items()}


def test_a_selector_that_counts_more_errors_than_requests_fails_the_check(
    prometheus_fleet: Any, engine: Engine, store_url: str, tmp_path: Any
) -> None:
    payload = DependencyGraphIn.model_validate(prometheus_fleet.topology.to_payload())
    ingest_graph(engine, payload.to_submission(), stale_after=timedelta(days=7))

    wrong = materialize(prometheus_fleet, store_url, str(tmp_path / "wrong"), DOUBLE_COUNTING)
    assert not wrong.success  # blocking: the run stops there
    (evaluation,) = wrong.get_asset_check_evaluations()
    assert not evaluation.passed
    clamped = materialization_metadata(wrong)["errors_clamped_hours"]
    assert clamped > 0
    metadata: dict[str, Any] = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["rows_with_errors_over_requests"] == clamped
    services: dict[str, int] = metadata["services_with_errors_over_requests"]
    assert services and set(services) <= set(prometheus_fleet.telemetry.services)
    first = sorted(services)[0]
    assert f"| {first} | {DAY} " in metadata["errors_over_requests"]
    # Stored counts stay possible: the clamp is kept, only its fact is new.
    written = pl.read_parquet(tmp_path / "wrong" / "sli_hourly" / f"{DAY}.parquet")
    assert written.filter(pl.col("errors") > pl.col("requests")).is_empty()
    assert int(written["errors_clamped"].sum()) == clamped

    right = materialize(prometheus_fleet, store_url, str(tmp_path / "right"), None)
    assert right.success
    (evaluation,) = right.get_asset_check_evaluations()
    assert evaluation.passed
    assert materialization_metadata(right)["errors_clamped_hours"] == 0
