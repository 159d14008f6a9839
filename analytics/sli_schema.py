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
