"""Who may do what: API keys (bcrypt at rest, revocable), OIDC tokens against a JWKS, roles."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.keys import make_key
from support.ports import free_port
from support.published_fleet import ingest_chain, publish

from config.settings import Settings
from serving.main import create_app
from store.api_keys import revoke_api_key
from store.tables import api_keys, slo_audit_log

DECIDE = "/api/v1/services/{}/slos"
ISSUER = "https://idp.example.test/realms/sre"
AUDIENCE = "slo-engine"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """No default credentials: each test says who it is."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    ingest_chain(engine)
    return publish(engine, generated_at=datetime.now(UTC))


def _accept(recommendation_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "recommendation_id": recommendation_id,
        "action": "accept",
        "selected_tier": "balanced",
        **extra,
    }
    return body


def test_everything_but_health_needs_a_principal(app_client: TestClient) -> None:
    assert app_client.get("/api/v1/health").status_code == 200
    assert app_client.get("/api/v1/health/ready").status_code == 200
    for method, path in (
        ("GET", "/api/v1/services"),
        ("POST", "/api/v1/services/dependencies"),
        ("GET", "/api/v1/services/x/slo-recommendations"),
    ):
        problem = _problem(app_client.request(method, path), 401)
        assert problem["type"].endswith("/unauthorized")
    assert "WWW-Authenticate" in app_client.get("/api/v1/services").headers
    wrong = app_client.get("/api/v1/services", headers={"X-API-Key": "slo_0123456789ab_guess"})
    _problem(wrong, 401)


def test_keys_are_stored_as_bcrypt_and_revocation_takes_effect(
    settings: Settings, engine: Engine
) -> None:
    fresh = settings.model_copy(update={"api_key_cache_seconds": 0})
    key = make_key(fresh, role="viewer")
    with engine.connect() as conn:
        prefix, hashed = conn.execute(sa.select(api_keys.c.key_prefix, api_keys.c.key_hash)).one()
    assert key not in hashed and hashed.startswith("$2b$")
    with TestClient(create_app(fresh), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/services", headers={"X-API-Key": key}).status_code == 200
        assert revoke_api_key(engine, prefix)
        _problem(client.get("/api/v1/services", headers={"X-API-Key": key}), 401)
    with engine.connect() as conn:
        assert conn.execute(sa.select(api_keys.c.last_used_at)).scalar_one() is not None


def test_viewer_reads_but_never_writes(
    app_client: TestClient, settings: Settings, published: dict[str, dict[str, str]]
) -> None:
    viewer = {"X-API-Key": make_key(settings, role="viewer")}
    assert app_client.get("/api/v1/services", headers=viewer).status_code == 200
    assert (
        app_client.get("/api/v1/services/web/slo-recommendations", headers=viewer).status_code
        == 200
    )
    for response in (
        app_client.post(
            "/api/v1/services/dependencies",
            headers=viewer,
            json={"source": "manual", "nodes": [{"service_id": "x"}], "edges": []},
        ),
        app_client.post(
            DECIDE.format("web"),
            headers=viewer,
            json=_accept(published["web"]["availability"], actor="v@x.io"),
        ),
        app_client.get(
            "/api/v1/services/web/slo-recommendations",
            headers=viewer,
            params={"force_regenerate": True},
        ),
    ):
        assert _problem(response, 403)["type"].endswith("/forbidden")


def test_service_owner_decides_only_for_its_own_team(
    app_client: TestClient,
    settings: Settings,
    engine: Engine,
    published: dict[str, dict[str, str]],
) -> None:
    owner = {"X-API-Key": make_key(settings, role="service_owner", team="money")}
    other_team = app_client.post(
        DECIDE.format("web"),
        headers=owner,
        json=_accept(published["web"]["availability"], actor="o@x.io"),
    )
    assert "team 'edge'" in _problem(other_team, 403)["detail"]
    own = app_client.post(
        DECIDE.format("payments"),
        headers=owner,
        json=_accept(published["payments"]["availability"], actor="o@x.io"),
    )
    assert own.status_code == 200, own.text
    # Graph ingestion stays with sre_admin.
    _problem(
        app_client.post(
            "/api/v1/services/dependencies",
            headers=owner,
            json={"source": "manual", "nodes": [{"service_id": "x"}]},
        ),
        403,
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(slo_audit_log.c.actor, slo_audit_log.c.principal)).all()
    assert len(rows) == 1 and rows[0].actor == "o@x.io"
    assert rows[0].principal.startswith("api_key:")


def test_a_key_must_name_the_person_who_decided(
    app_client: TestClient, settings: Settings, published: dict[str, dict[str, str]]
) -> None:
    admin = {"X-API-Key": make_key(settings)}
    response = app_client.post(
        DECIDE.format("web"), headers=admin, json=_accept(published["web"]["availability"])
    )
    problem = _problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == ["actor"]


class _Jwks:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.document = json.dumps(
            {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        )

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "u-42",
            "iat": now,
            "exp": now + 300,
            "email": "jane.doe@company.com",
            "slo_role": "service_owner",
            "team": "money",
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def jwks() -> Iterator[tuple[_Jwks, str]]:
    """A real HTTP JWKS endpoint on loopback, as an identity provider publishes it."""
    keys = _Jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = keys.document.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return

    port = free_port()
    server = HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield keys, f"http://127.0.0.1:{port}/certs"
    server.shutdown()


def test_oidc_tokens_are_checked_and_carry_role_team_and_actor(
    settings: Settings,
    engine: Engine,
    published: dict[str, dict[str, str]],
    jwks: tuple[_Jwks, str],
) -> None:
    keys, url = jwks
    oidc = settings.model_copy(
        update={"oidc_jwks_url": url, "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE}
    )
    with TestClient(create_app(oidc), raise_server_exceptions=False) as client:

        def call(token: str) -> Any:
            return client.post(
                DECIDE.format("payments"),
                headers={"Authorization": f"Bearer {token}"},
                json=_accept(published["payments"]["availability"]),
            )

        assert (
            "expired"
            in _problem(call(keys.token(exp=int(time.time()) - 10)), 401)["detail"].lower()
        )
        _problem(call(keys.token(aud="someone-else")), 401)
        _problem(call(keys.token(iss="https://evil.test")), 401)
        _problem(call(keys.token(exp=None)), 401)
        forged = _Jwks().token()  # signed by another key with the same kid
        _problem(call(forged), 401)
        _problem(call(keys.token(slo_role="admin-ish")), 403)
        _problem(call(keys.token(team="edge")), 403)
        ok = call(keys.token())
        assert ok.status_code == 200, ok.text
        assert ok.json()["activated_by"] == "jane.doe@company.com"  # the token's person
    with engine.connect() as conn:
        principal = conn.execute(sa.select(slo_audit_log.c.principal)).scalar_one()
    assert principal == "token:u-42"


def test_bearer_tokens_without_an_identity_provider_are_refused(app_client: TestClient) -> None:
    problem = _problem(
        app_client.get("/api/v1/services", headers={"Authorization": "Bearer abc.def.ghi"}), 401
    )
    assert "SLO_OIDC_JWKS_URL" in problem["detail"]


def test_auth_disabled_is_for_demos_and_says_so(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    demo = settings.model_copy(update={"auth": "disabled"})
    with (
        caplog.at_level(logging.WARNING, "slo_engine.auth"),
        TestClient(create_app(demo)) as client,
    ):
        assert client.get("/api/v1/services").status_code == 200
    assert any("AUTHENTICATION IS DISABLED" in r.getMessage() for r in caplog.records)
