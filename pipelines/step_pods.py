"""What a step's pod asks Kubernetes for under the k8s executor (`dagster-k8s/config` tags).

A recommendation shard of SLO_RECOMMENDATION_SHARD_SIZE services (5,000) peaks well under
the 2 GB per-process bound measured by `benchmarks/recommendations_pipeline.py`; its pod is
limited at that bound so that a shard that outgrows it fails loudly (OOMKilled, retried by
Dagster) instead of starving its node. Other executors ignore these tags.
"""

from typing import Any

#: One process's memory bound (issue 18: ≤ 2 GB per pipeline process at 50,000 services).
STEP_MEMORY_LIMIT = "2Gi"


def step_pod(cpu: str, memory: str) -> dict[str, Any]:
    """The `dagster-k8s/config` tag of an op: one core's worth of work, memory bounded."""
    resources = {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"memory": STEP_MEMORY_LIMIT},
    }
    return {"dagster-k8s/config": {"container_config": {"resources": resources}}}


#: The per-service and per-day shards: CPU-bound numpy/polars work, one core each.
SHARD_POD = step_pod("1", "1536Mi")
#: Planning, fitting and combining: short, mostly I/O.
LIGHT_POD = step_pod("250m", "512Mi")
