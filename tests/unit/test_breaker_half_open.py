"""Half-open means one probe (issue 15 item 4): after the reset time, exactly one concurrent call
reaches Prometheus; every other caller fails fast until the probe closes or reopens the circuit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import requests
from support.prometheus_answers import OK, Answering

from telemetry.prometheus_http import (
    CircuitBreaker,
    CircuitOpenError,
    PrometheusClient,
    PrometheusError,
)

THREADS = 10
AT = datetime(2024, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class BlockingPrometheus:
    """A fake server whose answers wait until the test releases them, counting attempts."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.attempts = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, object] | str]:
        with self._lock:
            self.attempts += 1
        self.release.wait(timeout=3)
        if self.status != 200:
            return self.status, "unavailable"
        return 200, OK


def _open_client(server: BlockingPrometheus) -> tuple[PrometheusClient, Clock]:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=30, clock=clock)
    breaker.record_failure()  # open
    assert breaker.state == "open"
    clock.now = 31.0  # past the reset time: the next call may probe
    client = PrometheusClient(
        "http://prometheus.invalid",
        backoff_s=(),
        breaker=breaker,
        sleep=lambda _: None,
        adapter=Answering(server),
    )
    return client, clock


def _call_concurrently(
    client: PrometheusClient, server: BlockingPrometheus
) -> tuple[list[str], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    passed: list[str] = []
    failed: list[BaseException] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        try:
            client.query("up", AT)
            outcome: str | BaseException = "ok"
        except PrometheusError as exc:
            outcome = exc
        with lock:
            if isinstance(outcome, BaseException):
                failed.append(outcome)
                if sum(isinstance(e, CircuitOpenError) for e in failed) == THREADS - 1:
                    server.release.set()  # everyone else has been refused: let the probe end
            else:
                passed.append(outcome)

    threads = [threading.Thread(target=call) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return passed, failed


def test_one_probe_passes_the_others_fail_fast_and_success_closes() -> None:
    server = BlockingPrometheus()
    client, _ = _open_client(server)
    passed, failed = _call_concurrently(client, server)
    assert server.attempts == 1
    assert passed == ["ok"]
    assert len(failed) == THREADS - 1
    assert all(isinstance(e, CircuitOpenError) for e in failed)
    assert client.breaker.state == "closed"
    client.query("up", AT)  # closed: calls flow again
    assert server.attempts == 2


def test_a_failed_probe_reopens_and_the_others_still_fail_fast() -> None:
    server = BlockingPrometheus(status=503)
    client, clock = _open_client(server)
    passed, failed = _call_concurrently(client, server)
    assert server.attempts == 1
    assert passed == []
    assert sum(isinstance(e, CircuitOpenError) for e in failed) == THREADS - 1
    assert client.breaker.state == "open"
    assert client.breaker.opened_at == clock.now
    with pytest.raises(CircuitOpenError):
        client.query("up", AT)
    assert server.attempts == 1


def test_a_probe_ending_without_a_verdict_lets_the_next_call_probe() -> None:
    def explode(request: requests.PreparedRequest) -> tuple[int, str]:
        raise RuntimeError("unexpected")

    client, _ = _open_client(BlockingPrometheus())
    client.adapter = Answering(explode)
    with pytest.raises(RuntimeError):
        client.query("up", AT)
    assert client.breaker.state == "half_open"
    assert client.breaker.probe_in_flight is False
    client.close()
    client.adapter = Answering(lambda request: (200, OK))
    client.query("up", AT)
    assert client.breaker.state == "closed"


def test_breaker_refuses_a_second_caller_while_half_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=30, clock=clock)
    breaker.record_failure()
    clock.now = 30.0
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpenError, match="probing"):
        breaker.before_call()
    breaker.record_success()
    breaker.before_call()
    assert breaker.state == "closed"
