"""Latency quantiles from cumulative histogram buckets, the way Prometheus computes them.

The engine never sees raw latencies, only `le` bucket counters; quantiles are interpolated
linearly inside the bucket where the rank falls (`histogram_quantile` semantics), so the SLIs
computed here agree with what an SRE sees in Grafana for the same data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Default bucket upper bounds in seconds (the +Inf bucket is implicit and always last).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

QUANTILES: dict[str, float] = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "p999": 0.999}


def bucket_label(bound: float) -> str:
    """The `le` label value Prometheus clients write for a bound."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def histogram_quantile(
    q: float, bounds: Sequence[float], cumulative: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Quantile `q` for each row of `cumulative` (shape (n, len(bounds) + 1), last = +Inf).

    Rows with no observations give NaN. A rank that falls in the +Inf bucket returns the
    highest finite bound, as Prometheus does: the histogram cannot say more than that.
    """
    counts = np.asarray(cumulative, dtype=np.float64)
    if counts.ndim == 1:
        counts = counts[np.newaxis, :]
    upper = np.asarray([*bounds, bounds[-1]], dtype=np.float64)
    lower = np.concatenate([[0.0], np.asarray(bounds, dtype=np.float64)])
    total = counts[:, -1]
    rank = q * total
    index = np.argmax(counts >= rank[:, np.newaxis], axis=1)
    rows = np.arange(counts.shape[0])
    below = np.where(index > 0, counts[rows, np.maximum(index - 1, 0)], 0.0)
    in_bucket = counts[rows, index] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(in_bucket > 0, (rank - below) / in_bucket, 0.0)
    value = lower[index] + (upper[index] - lower[index]) * fraction
    value = np.where(index == len(bounds), bounds[-1], value)
    return np.where(total > 0, value, np.nan)
