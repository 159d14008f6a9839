"""Token buckets per principal and endpoint: shared through Redis, in-process without it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from support.keys import make_key

from config.settings import Settings
from serving.main import create_app

LIMITS = {"GET /api/v1/services": 3}


def _app(settings: Settings, **update: object) -> TestClient:
    limited = settings.model_copy(update={"rate_limit_enabled": True, "rate_limits": LIMITS,
                                          **update})  # fmt: skip
    return TestClient(create_app(limited), raise_server_exceptions=False)


@pytest.fixture
def key(settings: Settings) -> Iterator[dict[str, str]]:
    yield {"X-API-Key": make_key(settings, role="viewer")}


def test_redis_buckets_are_shared_by_every_replica(
    settings: Settings, redis_url: str, key: dict[str, str]
) -> None:
    with _app(settings, redis_url=redis_url) as one, _app(settings, redis_url=redis_url) as two:
        first = one.get("/api/v1/services", headers=key)
        assert first.status_code == 200
        assert first.headers["X-RateLimit-Limit"] == "3"
        assert first.headers["X-RateLimit-Remaining"] == "2"
        assert two.get("/api/v1/services", headers=key).headers["X-RateLimit-Remaining"] == "1"
        assert one.get("/api/v1/services", headers=key).headers["X-RateLimit-Remaining"] == "0"
        limited = two.get("/api/v1/services", headers=key)
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["type"].endswith("/rate-limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 20  # 3/min: a token every 20 s
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    buckets = redis.Redis.from_url(redis_url).keys("slo-engine:ratelimit:*")
    assert len(buckets) == 1 and b"GET /api/v1/services" in buckets[0]


def test_each_principal_and_endpoint_has_its_own_bucket(
    settings: Settings, redis_url: str, key: dict[str, str]
) -> None:
    other = {"X-API-Key": make_key(settings, role="viewer")}
    with _app(settings, redis_url=redis_url) as client:
        for _ in range(3):
            assert client.get("/api/v1/services", headers=key).status_code == 200
        assert client.get("/api/v1/services", headers=key).status_code == 429
        assert client.get("/api/v1/services", headers=other).status_code == 200
        # Another endpoint: the TRD's 60/min applies, untouched by the exhausted bucket.
        problem = client.get("/api/v1/services/nope/dependencies", headers=key)
        assert problem.status_code == 404 and problem.headers["X-RateLimit-Limit"] == "60"
        # Health checks are never limited nor authenticated.
        for _ in range(10):
            assert client.get("/api/v1/health").status_code == 200


def test_concurrent_requests_never_overdraw_the_redis_bucket(
    settings: Settings, redis_url: str, key: dict[str, str]
) -> None:
    statuses: list[int] = []
    with _app(settings, redis_url=redis_url, rate_limits={"GET /api/v1/services": 10}) as client:
        barrier = threading.Barrier(25)

        def call() -> None:
            barrier.wait()
            statuses.append(client.get("/api/v1/services", headers=key).status_code)

        threads = [threading.Thread(target=call) for _ in range(25)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses.count(200) == 10 and statuses.count(429) == 15


def test_without_redis_limits_hold_in_process_and_say_so(
    settings: Settings, key: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    dead = "redis://127.0.0.1:1/0"  # nothing listens there
    with (
        caplog.at_level(logging.WARNING, "slo_engine.rate_limit"),
        _app(settings, redis_url=dead) as client,
    ):
        codes = [client.get("/api/v1/services", headers=key).status_code for _ in range(4)]
        backend = client.app.state.rate_limiter.backend  # type: ignore[attr-defined]
    assert codes == [200, 200, 200, 429]
    assert backend == "local"
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
