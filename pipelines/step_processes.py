"""How the multiprocess executor starts a step's process on one machine.

Each step of a run is a process of its own. Spawned, every one imports the code location
(~4 s here); forked from a forkserver that imported it once, a step starts in under a second.
The code location alone is not all a step imports: its first act is to open the Dagster
instance (`DagsterInstance.from_ref`), whose storage modules (event log, runs, schedules,
their Alembic migrations, universal-pathlib) the code location never touches — 0.55 s of
imports per step, measured, 27 steps a chain. They are preloaded with it (0.13 s left: the
storage's own connection). Dagster's own default start is `spawn`; `local_executor` makes the
preloaded forkserver the default of every job outside Kubernetes, so the daemon's runs, the
benchmarks and the tests start their steps the same way.
"""

from typing import Any

import dagster as dg

#: What the forkserver imports once, for every step process it forks.
FORKSERVER_PRELOAD = (
    "pipelines.definitions",
    "dagster._core.instance.factory",
    "dagster._core.storage.base_storage",
    "dagster._core.storage.root",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    "dagster._core.secrets.env_file",
    "dagster_postgres",  # the production instance's storage (dagster.yaml)
    "alembic.command",
    "upath.implementations.local",
)


def _forked_by_default(config: dict[str, Any] | None) -> dict[str, Any]:
    """The run's executor config, its step processes forked from a preloaded server unless the
    run config chooses in-process execution or a start method of its own."""
    if config and "in_process" in config:
        return config
    multiprocess = dict((config or {}).get("multiprocess") or {})
    forkserver = {"preload_modules": list(FORKSERVER_PRELOAD)}
    multiprocess.setdefault("start_method", {"forkserver": forkserver})
    return {"multiprocess": multiprocess}


#: Dagster's default executor (a process per step, or in process by run config) with the
#: forkserver start as its default: what the daemon's runs use outside Kubernetes.
local_executor = dg.multi_or_in_process_executor.configured(
    _forked_by_default,
    config_schema=dg.multi_or_in_process_executor.config_schema.as_field(),
    name="multi_or_in_process_executor",
)


def multiprocess_execution(max_concurrent: int) -> dict[str, Any]:
    """The `execution` run config of a job: `max_concurrent` step processes at once, forked
    from the preloaded server (spelled out: also right for an executor without the default)."""
    return {"config": _forked_by_default({"multiprocess": {"max_concurrent": max_concurrent}})}
