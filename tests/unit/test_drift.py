"""Drift detection on generated telemetry (AC-009): a 20% p99 regression is confirmed the day
it happens; stationary latency confirms nothing over 30 days; transient incidents rarely do."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest

from analytics.drift import latency_drift
from synthetic_fleet.telemetry import FleetTelemetry, generate_telemetry, hourly_frame
from synthetic_fleet.topology import generate_topology

SERVICES, DAYS, BASELINE_DAYS = 40, 44, 14


@pytest.fixture(scope="module")
def telemetry() -> FleetTelemetry:
    topology = generate_topology(SERVICES, seed=9)
    return generate_telemetry(topology, days=DAYS, seed=9, end=datetime(2026, 11, 20, tzinfo=UTC))


def _p99(telemetry: FleetTelemetry) -> npt.NDArray[np.float64]:
    return np.asarray(hourly_frame(telemetry)["latency_p99"].to_numpy()).reshape(SERVICES, -1)


def _confirmed_days(p99: npt.NDArray[np.float64], service: int) -> list[int]:
    days = []
    for day in range(BASELINE_DAYS, DAYS):
        verdict = latency_drift(
            p99[service, (day - BASELINE_DAYS) * 24 : day * 24],
            p99[service, day * 24 : (day + 1) * 24],
        )
        assert verdict is not None
        if verdict.confirmed:
            days.append(day)
    return days


def test_stationary_latency_confirms_no_drift_in_30_days(telemetry: FleetTelemetry) -> None:
    typical = np.median(telemetry.latency_median, axis=1, keepdims=True)
    flat = np.repeat(typical, telemetry.steps, axis=1)
    steady = FleetTelemetry(**{**vars(telemetry), "latency_median": flat})
    p99 = _p99(steady)
    false_positives = sum(len(_confirmed_days(p99, i)) for i in range(SERVICES))
    assert false_positives == 0  # of 40 services × 30 days


def test_a_20_percent_p99_regression_is_confirmed_the_same_day(telemetry: FleetTelemetry) -> None:
    latency = telemetry.latency_median.copy()
    latency[:, -telemetry.steps_per_hour * 24 :] *= 1.2
    p99 = _p99(FleetTelemetry(**{**vars(telemetry), "latency_median": latency}))
    verdicts = [
        latency_drift(p99[i, -(BASELINE_DAYS + 1) * 24 : -24], p99[i, -24:])
        for i in range(SERVICES)
    ]
    detected = [v for v in verdicts if v is not None and v.confirmed]
    assert len(detected) / SERVICES >= 0.9
    assert all(v.shift > 0 and v.votes >= 2 for v in detected)


def test_transient_incidents_rarely_confirm(telemetry: FleetTelemetry) -> None:
    # The generator's incidents (1-4 h) and rolled-back deploy regressions (2-12 h) are real
    # but passing changes; few of them should move a whole day's median enough.
    p99 = _p99(telemetry)
    confirmed = sum(len(_confirmed_days(p99, i)) for i in range(SERVICES))
    assert confirmed / (SERVICES * (DAYS - BASELINE_DAYS)) < 0.02


def test_too_little_history_gives_no_verdict() -> None:
    assert latency_drift(np.full(48, 0.1), np.full(24, 0.12)) is None
    assert latency_drift(np.full(24 * 14, np.nan), np.full(24, 0.12)) is None
