"""Confirmed drift on a day re-runs that day's recommendation chain (the re-evaluation)."""

import dagster as dg

from pipelines.defs.recommendations.automation import recommendations_job


@dg.asset_sensor(asset_key=dg.AssetKey("drift_signals"), job=recommendations_job,
                 minimum_interval_seconds=60)  # fmt: skip
def drift_reevaluation(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
) -> dg.SensorResult | dg.SkipReason:
    """Confirmed drift on a day → recompute that day's recommendations (the re-evaluation)."""
    return reevaluation_request(asset_event)


def reevaluation_request(asset_event: dg.EventLogEntry) -> dg.SensorResult | dg.SkipReason:
    """The sensor's decision for one `drift_signals` materialization."""
    materialization = asset_event.asset_materialization
    if materialization is None or materialization.partition is None:
        return dg.SkipReason("no partitioned materialization")
    confirmed = materialization.metadata.get("confirmed")
    if confirmed is None or not getattr(confirmed, "value", 0):
        return dg.SkipReason(f"no confirmed drift on {materialization.partition}")
    return dg.SensorResult(run_requests=[dg.RunRequest(
        run_key=f"drift-{materialization.partition}-{asset_event.timestamp}",
        partition_key=materialization.partition,
        tags={"slo-engine/trigger": "drift"},
    )])  # fmt: skip
