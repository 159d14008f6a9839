"""The sharded recommendations give the unsharded answer, in one process or in several.

`slo_recommendations` is a graph of ops over dynamic outputs (`pipelines/defs/recommendations/
shards.py`): if a shard drew its own fleet prior, seeded a service by its shard, or fitted its
own SHAP model, the documents here would differ between shard counts and executors.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from sqlalchemy.engine import Engine
from support.parquet_fleet import parquet_fleet

from pipelines.definitions import DAILY_ASSETS, DAILY_CHECKS, recommendation_chain_job
from pipelines.defs.recommendations.automation import RECOMMENDATION_CHAIN
from pipelines.defs.recommendations.intrinsic_shards import (
    INTRINSIC_SERVICE_DAYS_PER_SHARD,
    days_per_shard,
)
from pipelines.defs.recommendations.shards import shard_services
from pipelines.defs.telemetry.assets import service_graph_hourly, sli_hourly
from pipelines.notifications import WebhookResource
from pipelines.resources import OperationalStoreResource, PolarsParquetIOManager
from pipelines.step_processes import multiprocess_execution

END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = 8
LAST = (END - timedelta(days=1)).date().isoformat()
SHARD_OPS = "slo_recommendations"


def _fleet(engine: Engine, tmp_path: Path, store_url: str) -> dict[str, Any]:
    """A 45-service fleet with DAYS of telemetry materialized; the resources of its runs."""
    fleet = parquet_fleet(
        engine, tmp_path / "fleet", services=45, seed=21, cycles=1, days=DAYS, end=END
    )
    resources = {
        "telemetry": fleet.source,
        "store": OperationalStoreResource(database_url=store_url),
        "warehouse_io": PolarsParquetIOManager(base_path=str(tmp_path / "warehouse")),
        "webhook": WebhookResource(),
    }
    for day in fleet.days:
        assert dg.materialize(
            [sli_hourly, service_graph_hourly], resources=resources, partition_key=day
        ).success
    return {"resources": resources, "folder": fleet.folder, "warehouse": tmp_path / "warehouse"}


def _shard_config(size: int) -> dict[str, Any]:
    plan = {"config": {"services_per_shard": size}}
    return {"ops": {SHARD_OPS: {"ops": {"plan_recommendation_shards": plan}}}}


def _recommendations(warehouse: Path) -> dict[str, dict[str, Any]]:
    """Each service's row, its document without what names the run (id, clock)."""
    frame = pl.read_parquet(warehouse / "slo_recommendations" / f"{LAST}.parquet")
    assert frame["service"].is_sorted()  # the shards, combined in order
    rows = {}
    for row in frame.iter_rows(named=True):
        document = json.loads(row.pop("document"))
        document.pop("generated_at")
        document["provenance"].pop("dagster_run_id")
        rows[row["service"]] = {**row, "document": document}
    return rows


def _in_process(fleet: dict[str, Any], size: int) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [*DAILY_ASSETS, *DAILY_CHECKS],
        selection=RECOMMENDATION_CHAIN,
        resources=fleet["resources"],
        partition_key=LAST,
        run_config=_shard_config(size),
    )
    assert result.success
    return result


def _shards_of(result: Any) -> int:
    [materialization] = [
        m for m in result.asset_materializations_for_node(SHARD_OPS)
        if m.asset_key.to_user_string() == "slo_recommendations"
    ]  # fmt: skip
    return int(materialization.metadata["shards"].value)


def test_shards_cover_the_fleet_in_even_contiguous_runs() -> None:
    fleet = [f"svc-{i:03d}" for i in range(45)]
    shards = shard_services(fleet, 10)
    assert [len(s) for s in shards] == [9, 9, 9, 9, 9]  # 5 shards of ≤ 10, as even as can be
    assert [s for shard in shards for s in shard] == fleet
    assert shard_services(fleet, 45) == [fleet]
    assert shard_services([], 10) == [[]]  # an empty fleet still writes its (empty) partition


def test_day_shards_take_fewer_days_as_the_fleet_grows() -> None:
    """A day shard holds its days' results until it writes them: its service-days are bounded."""
    assert [days_per_shard(n) for n in (0, 5_000, 20_000, 50_000, 1_000_000)] == [5, 5, 5, 2, 1]
    for services in (5_000, 50_000):
        assert days_per_shard(services) * services <= max(
            INTRINSIC_SERVICE_DAYS_PER_SHARD, services
        )


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_shard_counts_give_the_same_recommendations(
    engine: Engine, tmp_path: Path, store_url: str
) -> None:
    fleet = _fleet(engine, tmp_path, store_url)
    whole = _in_process(fleet, 1000)
    assert _shards_of(whole) == 1
    unsharded = _recommendations(fleet["warehouse"])
    sharded_run = _in_process(fleet, 10)
    assert _shards_of(sharded_run) == 5  # 45 services in runs of 9
    sharded = _recommendations(fleet["warehouse"])
    assert sharded.keys() == unsharded.keys()
    attributed = 0
    for service, row in unsharded.items():
        assert sharded[service] == row, service
        explanation = row["document"]["recommendations"][0]["explanation"]
        attributed += bool(explanation.get("feature_attribution"))
    assert attributed >= 20  # one fleet model explained every shard's services


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_processes_give_the_in_process_answer(
    engine: Engine, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = _fleet(engine, tmp_path, store_url)
    _in_process(fleet, 23)
    in_process = _recommendations(fleet["warehouse"])
    # The executor's children build their resources from the environment, as in production.
    for name, value in {
        "SLO_DATABASE_URL": store_url,
        "SLO_WAREHOUSE_PATH": str(fleet["warehouse"]),
        "SLO_TELEMETRY": "parquet",
        "SLO_TELEMETRY_PARQUET_PATH": str(fleet["folder"]),
        "SLO_RECOMMENDATION_SHARD_SIZE": "23",  # two shards
    }.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = dg.execute_job(
            dg.reconstructable(recommendation_chain_job),
            instance=instance,
            # Forked from a server that imported the code location and the instance's storage.
            run_config={"execution": multiprocess_execution(2)},
            tags={"dagster/partition": LAST},
        )
        assert result.success
        pids = {
            event.pid
            for event in result.all_events
            if event.is_step_success and (event.step_key or "").startswith(SHARD_OPS)
        }
        assert len(pids) > 1  # the shards ran in processes of their own
    assert _recommendations(fleet["warehouse"]) == in_process
