"""What a read may know about Prometheus without asking it (issue 15 item 6)."""

from __future__ import annotations

from datetime import UTC, datetime

import requests
from support.prometheus_answers import OK, Answering

from telemetry.prometheus_http import CircuitBreaker, PrometheusClient


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _client(up: list[bool], clock: Clock) -> PrometheusClient:
    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, object]]:
        if not up[0]:
            raise requests.ConnectionError("refused")
        return 200, OK

    return PrometheusClient(
        "http://prometheus.invalid",
        backoff_s=(),
        breaker=CircuitBreaker(failure_threshold=1, reset_after_s=30, clock=clock),
        adapter=Answering(answer),
    )


def test_nothing_known_means_available() -> None:
    assert _client([True], Clock()).unavailable_reason() is None


def test_a_failed_readiness_ping_is_remembered_until_it_is_old_or_contradicted() -> None:
    up, clock = [False], Clock()
    client = _client(up, clock)
    assert client.ping() is False
    assert "readiness" in (client.unavailable_reason() or "")
    clock.now += 61
    assert client.unavailable_reason() is None  # too old to trust
    clock.now += 1
    client.ping()
    up[0] = True
    clock.now += 1
    client.query("up", datetime(2024, 1, 1, tzinfo=UTC))  # a later answer contradicts it
    assert client.unavailable_reason() is None


def test_an_open_breaker_is_unavailable_until_a_ping_answers_after_it_opened() -> None:
    up, clock = [False], Clock()
    client = _client(up, clock)
    client.breaker.record_failure()
    assert "circuit open" in (client.unavailable_reason() or "")
    up[0] = True
    clock.now += 1
    assert client.ping() is True
    assert client.unavailable_reason() is None


def test_a_200_without_data_is_a_query_error_and_a_failed_ping() -> None:
    import pytest

    from telemetry.prometheus_http import PrometheusQueryError

    client = PrometheusClient(
        "http://prometheus.invalid",
        backoff_s=(),
        adapter=Answering(lambda request: (200, {"status": "error"})),
    )
    with pytest.raises(PrometheusQueryError, match=r"without data\.result"):
        client.query("up", datetime(2024, 1, 1, tzinfo=UTC))
    assert client.breaker.state == "closed"
    assert client.ping() is False
