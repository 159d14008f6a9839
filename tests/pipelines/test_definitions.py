"""The Dagster code location named in workspace.yaml loads and validates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_workspace_points_at_a_loadable_code_location() -> None:
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    assert entry == {"python_module": "pipelines.definitions"}
    from pipelines.definitions import defs

    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)


def test_instance_config_defaults_to_sqlite_storage() -> None:
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert "storage" not in config  # SQLite under $DAGSTER_HOME unless PostgreSQL is configured
    assert config["telemetry"]["enabled"] is False


def _steps_reading_sli_hourly() -> dict[str, str | None]:
    """Each op that loads `sli_hourly` (an input or a dependency of its asset, through a graph
    asset's input mappings too), named `asset/op`, with its concurrency pool."""
    from pipelines.definitions import defs
    from pipelines.defs.telemetry.assets import sli_hourly

    steps: dict[str, str | None] = {}
    for asset in defs.assets or []:
        if not isinstance(asset, dg.AssetsDefinition) or sli_hourly.key in asset.keys:
            continue
        inputs = {n for n, k in asset.keys_by_input_name.items() if k == sli_hourly.key}
        node = asset.node_def
        name = asset.key.to_user_string()
        if isinstance(node, dg.GraphDefinition):
            for mapping in node.input_mappings:
                if mapping.graph_input_name in inputs:
                    op = node.node_named(mapping.maps_to.node_name).definition
                    steps[f"{name}/{op.name}"] = getattr(op, "pool", None)
        elif inputs:
            steps[f"{name}/{node.name}"] = getattr(node, "pool", None)
    return steps


def test_every_step_reading_sli_hourly_files_shares_the_retention_pool() -> None:
    """Retention removes files a lookback of another run (a backfill) may have resolved and
    not yet read: every such reader holds the same pool as retention."""
    from pipelines.defs.telemetry.assets import sli_hourly_retention
    from pipelines.defs.telemetry.hourly_retention import HOURLY_FILES_POOL

    assert sli_hourly_retention.op.pool == HOURLY_FILES_POOL
    steps = _steps_reading_sli_hourly()
    assert {"sli_daily/sli_daily", "drift_signals/drift_signals"} <= steps.keys()
    assert any(s.startswith("slo_recommendations/") for s in steps)
    outside = sorted(step for step, pool in steps.items() if pool != HOURLY_FILES_POOL)
    assert not outside, f"read sli_hourly's files outside pool={HOURLY_FILES_POOL!r}: {outside}"


def test_the_instances_run_one_hourly_files_run_at_a_time(tmp_path: Path) -> None:
    """Both instance configurations enforce the pool per run, limit 1; with this repository's
    the run queue holds a second daily run while one runs (what the daemon asks Dagster)."""
    from dagster._core.instance import DagsterInstance
    from dagster._core.instance.config import PoolGranularity, dagster_instance_config
    from dagster._core.op_concurrency_limits_counter import GlobalOpConcurrencyLimitsCounter
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunRecord

    from pipelines.definitions import defs

    for folder in (ROOT, ROOT / "deploy" / "dagster"):
        config, _ = dagster_instance_config(str(folder))
        assert config["concurrency"]["pools"] == {"granularity": "run", "default_limit": 1}

    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert pools.pool_granularity == PoolGranularity.RUN
        job = defs.resolve_job_def("daily_slo_pipeline")
        running, queued = (
            instance.create_run_for_job(job, tags={"dagster/partition": day})
            for day in ("2026-03-01", "2026-03-02")
        )
        now = datetime.now(UTC)
        record = RunRecord(
            storage_id=1,
            dagster_run=running.with_status(DagsterRunStatus.STARTED),
            create_timestamp=now,
            update_timestamp=now,
            start_time=now.timestamp(),
        )

        def blocked(in_progress: list[RunRecord]) -> bool:
            storage = instance.event_log_storage
            counter = GlobalOpConcurrencyLimitsCounter(
                instance, [queued], in_progress, storage.get_concurrency_keys(),
                storage.get_pool_limits(), pool_granularity=pools.pool_granularity,
            )  # fmt: skip
            return counter.is_blocked(queued)

        blocked([])  # the daemon's first pass sets the pool's limit to the default
        assert blocked([record])
        assert not blocked([])


def test_steps_fork_from_a_preloaded_server_unless_the_run_says_otherwise() -> None:
    """Dagster's own default start is spawn (every step imports the code location again); the
    jobs' executor defaults to the forkserver with the code location and storage preloaded."""
    from pipelines.definitions import defs, recommendations_job
    from pipelines.step_processes import FORKSERVER_PRELOAD, local_executor

    assert defs.resolve_job_def(recommendations_job.name).executor_def is local_executor

    def resolved(config: dict[str, object]) -> dict[str, object]:
        result = local_executor.config_schema.resolve_config({"config": config})
        assert result.success
        return result.value["config"]  # type: ignore[no-any-return,index]

    default = resolved({"multiprocess": {"max_concurrent": 2}})["multiprocess"]
    assert default["max_concurrent"] == 2  # type: ignore[index]
    assert default["start_method"] == {  # type: ignore[index]
        "forkserver": {"preload_modules": list(FORKSERVER_PRELOAD)}
    }
    assert resolved({})["multiprocess"]["start_method"]["forkserver"]  # type: ignore[index]
    assert "in_process" in resolved({"in_process": {}})
    spawned = resolved({"multiprocess": {"start_method": {"spawn": {}}}})
    assert spawned["multiprocess"]["start_method"] == {"spawn": {}}  # type: ignore[index]
