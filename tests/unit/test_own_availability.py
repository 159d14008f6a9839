"""R_self is the service's own reliability: a dependency's outage must not be counted twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from analytics.composite_availability import Edge, composite_availability
from analytics.own_availability import degraded_hours, own_availability

HOURS = 24 * 10
START = datetime(2026, 1, 1, tzinfo=UTC)


def _frame(series: dict[str, list[tuple[int, int]]]) -> pl.DataFrame:
    rows = [
        (service, START + timedelta(hours=h), req, err, True)
        for service, counts in series.items()
        for h, (req, err) in enumerate(counts)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "service": pl.String,
            "hour": pl.Datetime("us", "UTC"),
            "requests": pl.Int64,
            "errors": pl.Int64,
            "has_data": pl.Boolean,
        },
        orient="row",
    )


def _fleet() -> pl.DataFrame:
    outage = set(range(100, 106))  # the database fails for 6 hours
    db = [(10_000, 5_000 if h in outage else 1) for h in range(HOURS)]
    api = [(10_000, 4_000 if h in outage else 2) for h in range(HOURS)]  # inherits the outage
    own_incident = set(range(200, 202))
    worker = [(10_000, 3_000 if h in own_incident else 2) for h in range(HOURS)]
    return _frame({"db": db, "api": api, "worker": worker})


def test_only_the_outage_hours_are_degraded() -> None:
    degraded = degraded_hours(_fleet())
    by_service = degraded.group_by("service").len().sort("service")
    assert dict(by_service.iter_rows()) == {"api": 6, "db": 6, "worker": 2}


def test_dependency_outage_is_removed_from_the_callers_own_availability() -> None:
    measured = own_availability(_fleet(), [("api", "db"), ("worker", "db")])
    own_api, observed_api = measured["api"]
    assert observed_api == pytest.approx(1 - (6 * 4_000 + (HOURS - 6) * 2) / (HOURS * 10_000))
    assert own_api == pytest.approx(1 - 2 / 10_000)
    # The worker's own incident happened while the database was healthy: it stays its own.
    own_worker, observed_worker = measured["worker"]
    assert own_worker == pytest.approx(observed_worker, rel=1e-4)
    assert own_worker < 1 - 2 / 10_000
    # A leaf has no dependency to blame.
    assert measured["db"][0] == measured["db"][1]


def test_bound_with_own_availability_counts_the_outage_once() -> None:
    measured = own_availability(_fleet(), [("api", "db")])
    own = {s: v[0] for s, v in measured.items()}
    observed = {s: v[1] for s, v in measured.items()}
    bound = composite_availability(own, [Edge("api", "db", "sync", "hard")])["api"]
    double = composite_availability(observed, [Edge("api", "db", "sync", "hard")])["api"]
    assert bound.composite_bound == pytest.approx(own["api"] * observed["db"])
    # The caller's measured availability sits above the double-counted bound, within the real one.
    assert double.composite_bound < observed["api"]
    assert bound.composite_bound == pytest.approx(observed["api"], abs=3e-3)
    assert bound.composite_bound > double.composite_bound
