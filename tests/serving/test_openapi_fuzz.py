"""Every operation of the app's own OpenAPI, fuzzed by schemathesis with credentials (AC-015):
no 5xx, and every response conforms to the schema the app publishes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from support.keys import make_key
from support.published_fleet import ingest_chain, publish

from config.settings import Settings
from serving.main import create_app
from store.engine import make_engine

EXAMPLES = 25


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[Any, str]]:
    """The app with a published fleet behind it, lifespan started, and an sre_admin key."""
    from datetime import UTC, datetime

    engine = make_engine(settings.database_url)
    try:
        ingest_chain(engine)
        publish(engine, generated_at=datetime.now(UTC))
    finally:
        engine.dispose()
    app = create_app(settings)
    with TestClient(app):
        yield app, make_key(settings)


def test_no_5xx_and_every_answer_matches_the_schema(served: tuple[Any, str]) -> None:
    app, key = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    operations = 0
    calls: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def fuzz(case: Any) -> None:
            # Schema-valid but semantically invalid input (a duplicate node, an unknown
            # service) is rightly a 422/404: "positive data acceptance" does not apply.
            calls[case.operation.label] += 1
            case.call_and_validate(headers={"X-API-Key": key},
                                   excluded_checks=[positive_data_acceptance])  # fmt: skip

        try:
            fuzz()
        except Exception as exc:
            failures[operation.label] = str(exc)[:2000]
    assert operations >= 25  # every route of the API, not a subset
    assert all(calls[label] >= 1 for label in calls) and len(calls) == operations
    print(f"{operations} operations, {sum(calls.values())} requests")
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
