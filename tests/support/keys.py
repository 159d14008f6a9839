"""API keys for tests: real keys through the real store function, cheap bcrypt."""

from __future__ import annotations

from config.settings import Settings
from store.api_keys import create_api_key
from store.engine import make_engine


def make_key(settings: Settings, role: str = "sre_admin", team: str | None = None) -> str:
    engine = make_engine(settings.database_url)
    try:
        key, _ = create_api_key(
            engine, name=f"test-{role}", role=role, team=team,
            rounds=settings.api_key_bcrypt_rounds,
        )  # fmt: skip
    finally:
        engine.dispose()
    return key
