"""The breaker's state machine, on a fake clock."""

from __future__ import annotations

import pytest

from telemetry.prometheus_http import CircuitBreaker, CircuitOpenError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_then_half_opens_and_closes_on_success() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=30, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now = 29.9
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.now = 30.0
    breaker.before_call()
    assert breaker.state == "half_open"
    breaker.record_success()
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 0)


def test_a_failed_probe_reopens_at_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=10, reset_after_s=30, clock=clock)
    for _ in range(10):
        breaker.record_failure()
    clock.now = 31
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open" and breaker.opened_at == 31


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
