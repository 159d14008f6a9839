"""The `sli_hourly` table's schema, on its own: the API reads it and must not pay for the fleet
generator's imports (scipy alone is ~50 MB of resident memory in every API replica)."""

from __future__ import annotations

import polars as pl

from analytics.latency_histogram import QUANTILES

_COLUMNS: list[tuple[str, pl.DataType]] = [
    ("service", pl.String()),
    ("hour", pl.Datetime("us", "UTC")),
    ("requests", pl.Int64()),
    ("errors", pl.Int64()),
    ("availability", pl.Float64()),
    ("latency_buckets", pl.List(pl.Int64())),
    *[(f"latency_{name}", pl.Float64()) for name in QUANTILES],
    ("cpu_throttling", pl.Float64()),  # share of CFS periods throttled (null: not measured)
    ("has_data", pl.Boolean()),
    ("data_completeness", pl.Float64()),  # share of the service's hours of that day with data
    # True: the source reported more errors than requests and `errors` was clamped to
    # `requests` (impossible counts: usually a wrong error selector). Null: not known.
    ("errors_clamped", pl.Boolean()),
]

#: The `sli_hourly` table: one row per service per hour (latency in seconds, cumulative
#: `latency_buckets` over LATENCY_BUCKETS plus +Inf).
SLI_HOURLY_SCHEMA = pl.Schema(_COLUMNS)

#: The `sli_daily` table: one row per service per UTC day, rolled up from that day's
#: `sli_hourly` (pipelines/defs/telemetry/sli_daily_rollup.py): counts summed over the hours
#: with data, `latency_buckets` summed per `le` position (still cumulative, so any percentile
#: can be computed from the day's histogram, or from several days' summed again), quantiles
#: interpolated from those merged buckets, `data_completeness` = hours with data / 24.
SLI_DAILY_SCHEMA = pl.Schema(
    [
        ("service", pl.String()),
        ("day", pl.Date()),
        ("requests", pl.Int64()),
        ("errors", pl.Int64()),
        ("availability", pl.Float64()),
        ("latency_buckets", pl.List(pl.Int64())),
        *[(f"latency_{name}", pl.Float64()) for name in QUANTILES],
        ("cpu_throttling", pl.Float64()),  # mean over the hours with data that measured it
        ("hours", pl.Int64()),  # rows the day's sli_hourly held for the service (24)
        ("hours_with_data", pl.Int64()),
        ("data_completeness", pl.Float64()),
        ("errors_clamped_hours", pl.Int64()),
    ]
)

#: Column a lookback carries when some of its days come from `sli_daily` (their hourly
#: partition was removed by retention): on such a row, the hours with data the one row stands
#: for; null on genuine hourly rows. See `analytics/sli_daily.py`.
ROLLED_UP_HOURS = "rolled_up_hours"

#: The service graph per edge and hour (`service_graph_hourly`): calls from `client` to
#: `server` during the hour starting at `hour`, and how many of them failed.
EDGE_HOURLY_SCHEMA = pl.Schema(
    {
        "client": pl.String(),
        "server": pl.String(),
        "hour": pl.Datetime("us", "UTC"),
        "calls": pl.Int64(),
        "failed": pl.Int64(),
    }
)
