"""Bad credentials cost nothing: a rejected key is answered from memory, an address that keeps
presenting bad ones is stopped before its checks are paid for (in Redis, for every replica),
and no reader learns key material from the audit trail.

`verify_api_key` is wrapped, not replaced, to count the bcrypt checks the server pays for."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.keys import make_key
from support.published_fleet import ingest_chain, publish

import serving.rate_limit
import serving.security
from config.settings import Settings
from serving.main import create_app
from store.api_keys import prefix_of
from store.tables import api_keys

SERVICES = "/api/v1/services"


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the server verified against the store (each a bcrypt check when it exists)."""
    seen: list[str] = []
    real: Callable[..., Any] = serving.security.verify_api_key

    def counted(engine: Engine, key: str) -> Any:
        seen.append(key)
        return real(engine, key)

    monkeypatch.setattr(serving.security, "verify_api_key", counted)
    return seen


def _address() -> tuple[str, int]:
    """A client address of its own, so that no other test's failures count against it."""
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}", 40000


@pytest.fixture
def real_key(settings: Settings) -> str:
    return make_key(settings, role="viewer")


def _guess(real_key: str, n: int) -> str:
    """A key with the real key's prefix and a wrong secret: the expensive guess (bcrypt)."""
    prefix = prefix_of(real_key)
    return f"slo_{prefix}_wrong-secret-{n}"


def _client(settings: Settings, address: tuple[str, int], **update: Any) -> TestClient:
    app = create_app(settings.model_copy(update=update))
    return TestClient(app, raise_server_exceptions=False, client=address)


def test_a_rejected_key_is_not_checked_again(
    settings: Settings, real_key: str, checks: list[str]
) -> None:
    with _client(settings, _address()) as client:
        guess = {"X-API-Key": _guess(real_key, 1)}
        for _ in range(5):
            response = client.get(SERVICES, headers=guess)
            assert response.status_code == 401, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
        assert checks == [guess["X-API-Key"]]  # one bcrypt check, four answers from memory
    with _client(settings, _address(), auth_reject_cache_seconds=0) as client:
        for _ in range(3):
            assert client.get(SERVICES, headers=guess).status_code == 401
        assert len(checks) == 1 + 3  # without the cache every presentation is checked


def test_an_address_that_keeps_failing_is_stopped_before_bcrypt(
    settings: Settings, real_key: str, checks: list[str]
) -> None:
    attacker, neighbour = _address(), _address()
    with _client(settings, attacker, auth_attempts_per_minute=3) as client:
        for n in range(3):
            guess = {"X-API-Key": _guess(real_key, n)}
            assert client.get(SERVICES, headers=guess).status_code == 401
        stopped = client.get(SERVICES, headers={"X-API-Key": _guess(real_key, 99)})
        assert stopped.status_code == 429, stopped.text
        assert stopped.headers["content-type"].startswith("application/problem+json")
        assert int(stopped.headers["Retry-After"]) >= 1
        assert "failed authentications" in stopped.json()["detail"]
        assert len(checks) == 3  # the fourth guess cost nothing
        # Even a real key is not checked from that address until the minute has passed...
        assert client.get(SERVICES, headers={"X-API-Key": real_key}).status_code == 429
        assert len(checks) == 3
    # ...while another address, with the same key, is untouched by the attacker's failures.
    with _client(settings, neighbour, auth_attempts_per_minute=3) as client:
        assert client.get(SERVICES, headers={"X-API-Key": real_key}).status_code == 200


def test_a_known_key_is_never_stopped_by_its_own_addresses_failures(
    settings: Settings, real_key: str
) -> None:
    with _client(settings, _address(), auth_attempts_per_minute=2) as client:
        good = {"X-API-Key": real_key}
        assert client.get(SERVICES, headers=good).status_code == 200  # verified, now cached
        for n in range(5):
            client.get(SERVICES, headers={"X-API-Key": _guess(real_key, n)})
        assert client.get(SERVICES, headers=good).status_code == 200


def test_only_failures_count_many_good_keys_behind_one_address_pass(settings: Settings) -> None:
    """A NAT or a proxy puts many good clients behind one address: each first check reserves
    a token and gives it back."""
    keys = [make_key(settings, role="viewer") for _ in range(5)]
    with _client(settings, _address(), auth_attempts_per_minute=2) as client:
        for key in keys:
            assert client.get(SERVICES, headers={"X-API-Key": key}).status_code == 200


def test_failures_are_counted_for_every_replica_in_redis(
    settings: Settings, real_key: str, redis_url: str, checks: list[str]
) -> None:
    address = _address()
    shared = {"redis_url": redis_url, "auth_attempts_per_minute": 2}
    with _client(settings, address, **shared) as one, _client(settings, address, **shared) as two:
        assert one.get(SERVICES, headers={"X-API-Key": _guess(real_key, 1)}).status_code == 401
        assert two.get(SERVICES, headers={"X-API-Key": _guess(real_key, 2)}).status_code == 401
        assert one.get(SERVICES, headers={"X-API-Key": _guess(real_key, 3)}).status_code == 429
        assert two.get(SERVICES, headers={"X-API-Key": _guess(real_key, 4)}).status_code == 429
    assert len(checks) == 2


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    ingest_chain(engine)
    ids: dict[str, dict[str, str]] = publish(engine, generated_at=datetime.now(UTC))
    return ids


def test_no_reader_learns_key_material_from_the_history(
    settings: Settings, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    admin = make_key(settings)
    viewer = make_key(settings, role="viewer")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        decided = client.post(
            f"{SERVICES}/payments/slos",
            headers={"X-API-Key": admin},
            json={
                "recommendation_id": published["payments"]["availability"],
                "action": "accept",
                "selected_tier": "balanced",
                "actor": "ops@x.io",
            },
        )
        assert decided.status_code == 200, decided.text
        history = client.get(f"{SERVICES}/payments/slo-history", headers={"X-API-Key": viewer})
    assert history.status_code == 200, history.text
    with engine.connect() as conn:
        prefixes = [p for (p,) in conn.execute(sa.select(api_keys.c.key_prefix))]
        key_ids = [str(i) for (i,) in conn.execute(sa.select(api_keys.c.id))]
    assert prefixes and all(prefix not in history.text for prefix in prefixes)
    principals = {entry["principal"] for entry in history.json()["entries"]}
    assert principals and principals <= {f"api_key:{key_id}" for key_id in key_ids}


def test_a_refused_address_costs_no_store_round_trip_until_it_may_retry(
    settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once an address has no check left, its next guesses are refused from memory: a flood
    from one address costs the rate-limit store one draw per refill, not one per request."""
    draws: list[str] = []
    real = serving.rate_limit.RateLimiter.draw

    async def counted(self: Any, key: str, limit: int, cost: int = 1) -> Any:
        draws.append(key)
        return await real(self, key, limit, cost)

    monkeypatch.setattr(serving.rate_limit.RateLimiter, "draw", counted)
    with _client(settings, _address(), redis_url=redis_url, auth_attempts_per_minute=2,
                 auth_reject_cache_seconds=0) as client:  # fmt: skip
        answers = [
            client.get(SERVICES, headers={"X-API-Key": f"slo_{uuid.uuid4().hex[:12]}_x{n}"})
            for n in range(12)
        ]
    statuses = [a.status_code for a in answers]
    assert statuses[:2] == [401, 401] and set(statuses[2:]) == {429}, statuses
    assert all(a.headers["Retry-After"] for a in answers[2:])
    gate_draws = [k for k in draws if k.startswith("auth-failures:")]
    assert len(gate_draws) == 3, gate_draws  # two checks reserved, one refusal; then memory


def test_a_success_forgets_the_remembered_refusal(settings: Settings) -> None:
    """Only failures count: checks that succeed give their tokens back, and the address is
    admitted again at once, not after the remembered refusal's retry time."""
    import asyncio

    gate = serving.rate_limit.CredentialGate(
        serving.rate_limit.RateLimiter(settings.model_copy(update={"redis_url": None})), 2
    )

    async def scenario() -> None:
        await gate.admit("shared-nat")
        await gate.admit("shared-nat")
        with pytest.raises(serving.rate_limit.RateLimitedProblem):
            await gate.admit("shared-nat")
        await gate.succeeded("shared-nat")
        await gate.succeeded("shared-nat")
        await gate.admit("shared-nat")  # its tokens are back: admitted

    asyncio.run(scenario())


def test_a_refused_address_is_answered_before_the_application_runs(
    settings: Settings, real_key: str, checks: list[str]
) -> None:
    """While an address is refused, its unknown credentials get their 429 from the outermost
    layer: no routing, no authentication dependency, no request log (the flood's cost)."""
    from prometheus_client import REGISTRY

    def early() -> float:
        value = REGISTRY.get_sample_value(
            "slo_engine_rate_limited_total", {"endpoint": "credential-gate"}
        )
        return value or 0.0

    before = early()
    with _client(settings, _address(), auth_attempts_per_minute=2) as client:
        good = {"X-API-Key": real_key}
        assert client.get(SERVICES, headers=good).status_code == 200  # a known key, cached
        answers = [
            client.get(f"{SERVICES}?n={n}", headers={"X-API-Key": _guess(real_key, n)})
            for n in range(10)
        ]
        statuses = [a.status_code for a in answers]
        assert statuses == [401, 401] + [429] * 8, statuses
        # The first refusal is the gate's draw inside the app; the next seven never reach it.
        assert early() - before == 7
        refused = answers[-1]
        assert "x-request-id" not in refused.headers  # the request-context layer never ran
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["Retry-After"]) >= 1
        body = refused.json()
        assert body["status"] == 429 and body["instance"] == SERVICES
        assert body["type"].endswith("/rate-limited") and "failed authentications" in body["detail"]
        assert len(checks) == 3  # the good key once, two guesses; nothing after the refusal
        # The known key behind the same address is still served, through the whole app.
        served = client.get(SERVICES, headers=good)
        assert served.status_code == 200 and "x-request-id" in served.headers
        # No credential at all is not the gate's business: the 401 that asks for one.
        assert client.get(SERVICES).status_code == 401
