"""When the recommendation chain runs on its own: again whenever the effective graph changes.

The chain's asset selection and its job live here, next to its assets; the daily job
(`pipelines.defs.telemetry.automation`) and the drift sensor (`pipelines.defs.drift`) run the
same chain.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from pipelines.partitions import DAILY
from pipelines.resources import OperationalStoreResource
from store.graph_snapshot import load_effective_graph
from store.graph_version import graph_version

RECOMMENDATION_CHAIN = dg.AssetSelection.assets(
    "graph_snapshot",
    "scc_condensation",
    "intrinsic_availability",
    "composite_availability_bounds",
    "slo_recommendations",
    "published_recommendations",
    "auto_approvals",
)

recommendations_job = dg.define_asset_job(
    "recommendations_after_graph_change", selection=RECOMMENDATION_CHAIN, partitions_def=DAILY
)


@dg.sensor(job=recommendations_job, minimum_interval_seconds=300)
def graph_changed(
    context: dg.SensorEvaluationContext, store: OperationalStoreResource
) -> dg.SensorResult | dg.SkipReason:
    """Recompute the latest recommendations when the effective graph's content changed.

    The cursor is the graph's content hash, not the ingestion time: re-sending an identical
    payload (a periodic discovery push) completes an ingestion but changes nothing to
    recompute.
    """
    with store.connect() as engine:
        fingerprint = load_effective_graph(engine).fingerprint()
        with engine.connect() as conn:
            version = graph_version(conn)
    if fingerprint == context.cursor:
        return dg.SkipReason(f"graph content unchanged ({fingerprint[:12]})")
    latest = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    return dg.SensorResult(
        # Keyed by content and ingestion: a graph that changes back to an earlier content
        # still runs, and a retried tick does not launch twice.
        run_requests=[
            dg.RunRequest(run_key=f"graph-{fingerprint[:16]}-{version}", partition_key=latest)
        ],
        cursor=fingerprint,
    )
