"""The audit log's actor is the caller: with a bearer token, the token's person — an `actor`
naming anyone else is refused (403, field `actor`) and nothing is written. An API key names a
system, so it still says on whose behalf it acts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.keys import make_key
from support.openslo_import import post_openslo
from support.published_fleet import ingest_chain, publish
from test_auth import AUDIENCE, ISSUER, jwks  # noqa: F401 - jwks: the fixture
from test_openslo import FOREIGN

from config.settings import Settings
from serving.main import create_app
from store.tables import slo_audit_log

DECIDE = "/api/v1/services/{}/slos"
PERSON = "jane.doe@company.com"  # the token's `email` claim


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    ingest_chain(engine)
    ids: dict[str, dict[str, str]] = publish(engine, generated_at=datetime.now(UTC))
    return ids


@pytest.fixture
def oidc_client(
    settings: Settings, request: pytest.FixtureRequest
) -> Iterator[tuple[TestClient, str]]:
    """A client and a valid token: service_owner of team `money` (payments, ledger-db)."""
    keys, url = request.getfixturevalue("jwks")  # test_auth's JWKS endpoint on loopback
    oidc = settings.model_copy(
        update={"oidc_jwks_url": url, "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE}
    )
    with TestClient(create_app(oidc), raise_server_exceptions=False) as client:
        yield client, keys.token()


def _audit(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(slo_audit_log.c.actor, slo_audit_log.c.principal)).all())


def _accept(recommendation_id: str, actor: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recommendation_id": recommendation_id,
        "action": "accept",
        "selected_tier": "balanced",
    }
    return body if actor is None else body | {"actor": actor}


def _refused_naming_actor(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["actor"]
    assert PERSON in problem["detail"] and "Nothing was written" in problem["detail"]


def test_a_token_cannot_decide_in_someone_elses_name(
    oidc_client: tuple[TestClient, str], engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    client, token = oidc_client
    bearer = {"Authorization": f"Bearer {token}"}
    rec = published["payments"]["availability"]
    _refused_naming_actor(
        client.post(DECIDE.format("payments"), headers=bearer, json=_accept(rec, "boss@x.io"))
    )
    assert _audit(engine) == []
    assert client.get(DECIDE.format("payments"), headers=bearer).status_code == 404
    # Nothing was claimed: the same recommendation is still decidable, by its caller.
    ok = client.post(DECIDE.format("payments"), headers=bearer, json=_accept(rec, None))
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("actor", [None, PERSON, " Jane.Doe@Company.com "])
def test_with_a_token_the_audit_actor_is_the_tokens_person(
    oidc_client: tuple[TestClient, str],
    engine: Engine,
    published: dict[str, dict[str, str]],
    actor: str | None,
) -> None:
    client, token = oidc_client
    response = client.post(
        DECIDE.format("payments"),
        headers={"Authorization": f"Bearer {token}"},
        json=_accept(published["payments"]["availability"], actor),
    )
    assert response.status_code == 200, response.text
    assert response.json()["activated_by"] == PERSON
    assert [tuple(row) for row in _audit(engine)] == [(PERSON, "token:u-42")]


def test_a_token_cannot_import_openslo_in_someone_elses_name(
    oidc_client: tuple[TestClient, str], engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    client, token = oidc_client
    headers = {"Authorization": f"Bearer {token}"}
    refused = post_openslo(client, FOREIGN, headers=headers, params={"actor": "ops"})
    _refused_naming_actor(refused)
    assert refused.json()["errors"][0]["location"] == "query"
    assert _audit(engine) == []
    for params in ({}, {"actor": PERSON}):
        response = post_openslo(client, FOREIGN, headers=headers, params=params)
        assert response.status_code == 200, response.text
    assert {tuple(row) for row in _audit(engine)} == {(PERSON, "token:u-42")}


def test_an_api_key_still_names_the_person_it_acts_for(
    settings: Settings, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        key = {"X-API-Key": make_key(settings)}
        response = client.post(
            DECIDE.format("payments"),
            headers=key,
            json=_accept(published["payments"]["availability"], "ops@x.io"),
        )
        assert response.status_code == 200, response.text
    [(actor, principal)] = _audit(engine)
    assert actor == "ops@x.io" and principal.startswith("api_key:")
