"""OIDC fails closed (issue 15 item 5): with a JWKS configured, the server refuses to start
without an issuer and an audience, naming the missing SLO_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from config.settings import Settings
from serving.main import create_app

JWKS = "http://127.0.0.1:9/certs"  # never fetched: tokens are only checked when one is sent
ISSUER = "https://idp.example.test/realms/sre"
AUDIENCE = "slo-engine"


@pytest.fixture
def base(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        api_key_bcrypt_rounds=4,
        rate_limit_enabled=False,
    )


@pytest.fixture(autouse=True)
def _no_oidc_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLO_OIDC_JWKS_URL", "SLO_OIDC_ISSUER", "SLO_OIDC_AUDIENCE", "SLO_AUTH"):
        monkeypatch.delenv(name, raising=False)


def test_settings_refuse_a_jwks_without_an_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLO_OIDC_JWKS_URL", JWKS)
    monkeypatch.setenv("SLO_OIDC_AUDIENCE", AUDIENCE)
    with pytest.raises(ValidationError, match="SLO_OIDC_ISSUER") as refused:
        Settings()
    assert "SLO_OIDC_AUDIENCE" not in str(refused.value)


def test_settings_refuse_a_jwks_without_issuer_and_audience(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLO_OIDC_JWKS_URL", JWKS)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "SLO_OIDC_ISSUER and SLO_OIDC_AUDIENCE" in str(refused.value)


def test_settings_refuse_a_blank_audience() -> None:
    with pytest.raises(ValidationError, match="SLO_OIDC_AUDIENCE"):
        Settings(oidc_jwks_url=JWKS, oidc_issuer=ISSUER, oidc_audience="  ")


def test_settings_accept_a_complete_oidc_configuration_or_none() -> None:
    assert Settings(oidc_jwks_url=JWKS, oidc_issuer=ISSUER, oidc_audience=AUDIENCE).oidc_issuer
    assert Settings().oidc_jwks_url is None  # API keys only: nothing to check
    assert Settings(auth="disabled", oidc_jwks_url=JWKS).auth == "disabled"  # tokens unused


def test_server_refuses_to_start_without_an_issuer(base: Settings) -> None:
    # model_copy skips validation: the app's startup checks again.
    broken = base.model_copy(update={"oidc_jwks_url": JWKS, "oidc_audience": AUDIENCE})
    with (
        pytest.raises(RuntimeError, match="SLO_OIDC_ISSUER"),
        TestClient(create_app(broken)),
    ):
        pass  # pragma: no cover - startup fails before the block


def test_server_starts_when_issuer_and_audience_are_configured(base: Settings) -> None:
    configured = base.model_copy(
        update={"oidc_jwks_url": JWKS, "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE}
    )
    with TestClient(create_app(configured)) as client:
        assert client.get("/api/v1/health").status_code == 200
