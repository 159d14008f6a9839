"""The daily schedule targets yesterday's partition; the sensor fires once per graph change
(a change of content, not a re-sent identical payload)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy.engine import Engine

from pipelines.defs.recommendations.automation import graph_changed
from pipelines.defs.telemetry.automation import daily_schedule
from pipelines.resources import OperationalStoreResource
from store.graph_ingest import ingest_graph
from store.graph_model import EdgeRecord, GraphSubmission


def test_sensor_requests_a_run_only_when_the_graph_changed(engine: Engine, store_url: str) -> None:
    store = OperationalStoreResource(database_url=store_url)

    def evaluate(cursor: str | None) -> dg.SensorResult | dg.SkipReason:
        context = dg.build_sensor_context(cursor=cursor, resources={"store": store})
        return graph_changed(context)  # type: ignore[no-any-return]

    def ingest(*edges: EdgeRecord) -> None:
        ingest_graph(
            engine,
            GraphSubmission("manual", [], list(edges)),
            stale_after=timedelta(days=7),
        )

    ingest(EdgeRecord("a", "b"))
    first = evaluate(None)
    assert isinstance(first, dg.SensorResult)
    (request,) = first.run_requests or []
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert request.partition_key == yesterday
    assert isinstance(evaluate(first.cursor), dg.SkipReason)  # nothing new
    ingest(EdgeRecord("a", "b"))  # the identical payload again: an ingestion, no change
    assert isinstance(evaluate(first.cursor), dg.SkipReason)
    ingest(EdgeRecord("a", "b"), EdgeRecord("b", "c"))  # an edge more: a different graph
    again = evaluate(first.cursor)
    assert isinstance(again, dg.SensorResult) and again.cursor != first.cursor
    (second,) = again.run_requests or []
    assert second.run_key != request.run_key


def test_schedule_runs_daily_for_the_previous_day() -> None:
    assert daily_schedule.cron_schedule == "0 2 * * *"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 24, 2, tzinfo=UTC)
    )
    (request,) = list(daily_schedule.evaluate_tick(context).run_requests or [])
    assert request.partition_key == "2026-11-23"
