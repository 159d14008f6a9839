"""The daily run: every day after midnight UTC, from the day's telemetry to its recommendations.

It lives with the telemetry because the telemetry decides when a day can run (02:00 UTC, once
late samples have arrived); the run then carries the day through the graph, drift and
recommendation assets downstream.
"""

import dagster as dg

from pipelines.defs.recommendations.automation import RECOMMENDATION_CHAIN
from pipelines.partitions import DAILY

DAILY_SELECTION = dg.AssetSelection.assets(
    "sli_hourly",
    "sli_daily",
    "sli_hourly_retention",
    "service_graph_hourly",
    "observed_service_graph",
    "drift_signals",
) | (RECOMMENDATION_CHAIN)

daily_job = dg.define_asset_job(
    "daily_slo_pipeline", selection=DAILY_SELECTION, partitions_def=DAILY
)

#: Yesterday's partition, at 02:00 UTC: late samples have arrived by then.
daily_schedule = dg.build_schedule_from_partitioned_job(daily_job, hour_of_day=2)
