"""`lookback_days` either changes the answer or is refused: a plain read of a recommendation
published over another window is a 422 naming the field; `force_regenerate=true` recomputes
over the asked window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.keys import make_key
from support.published_fleet import SERVICES, TOPOLOGY, ingest_chain

from analytics.service_recommendation import recommend_service
from config.settings import Settings
from serving.main import create_app
from store.published_recommendations import publish_recommendations
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame

URL = "/api/v1/services/payments/slo-recommendations"
PUBLISHED_DAYS = 30


@pytest.fixture
def client(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    """Every chain service published over 30 days; the same telemetry on disk (Parquet) for
    an on-demand regeneration."""
    ingest_chain(engine)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    frame = hourly_frame(generate_telemetry(TOPOLOGY, days=PUBLISHED_DAYS, seed=4, end=end))
    folder = tmp_path / "fleet"
    folder.mkdir()
    for (day,), part in frame.group_by(pl.col("hour").dt.date()):
        part.write_parquet(folder / f"{day}.parquet")
    start = end - timedelta(days=PUBLISHED_DAYS)
    hours = [start + timedelta(hours=h) for h in range(PUBLISHED_DAYS * 24)]
    generated_at = datetime.now(UTC)
    documents = [
        recommend_service(
            service, frame.filter(pl.col("service") == service), hours, None,
            generated_at=generated_at,
        )[1]
        for service in SERVICES
    ]  # fmt: skip
    publish_recommendations(engine, documents, snapshot_id=None, generated_at=generated_at)
    app = create_app(settings.model_copy(update={"telemetry_parquet_path": folder}))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers["X-API-Key"] = make_key(settings)
        yield test_client


def _days(answer: dict[str, object]) -> int:
    window = answer["lookback_window"]
    assert isinstance(window, dict)
    span = datetime.fromisoformat(window["end"]) - datetime.fromisoformat(window["start"])
    return span.days


def _refused(client: TestClient, lookback_days: int, published_days: int) -> None:
    response = client.get(URL, params={"lookback_days": lookback_days})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert [(e["field"], e["location"]) for e in problem["errors"]] == [("lookback_days", "query")]
    message = problem["errors"][0]["message"]
    assert "force_regenerate=true" in message and f"{published_days}-day" in message


def test_a_plain_read_with_another_window_is_refused(client: TestClient) -> None:
    for params in ({}, {"lookback_days": PUBLISHED_DAYS}):
        same = client.get(URL, params=params)
        assert same.status_code == 200, same.text
        assert _days(same.json()) == PUBLISHED_DAYS
        assert not [w for w in same.json()["warnings"] if "lookback" in w]
    _refused(client, 14, PUBLISHED_DAYS)


def test_force_regenerate_recomputes_over_the_asked_window(client: TestClient) -> None:
    fresh = client.get(URL, params={"lookback_days": 14, "force_regenerate": True})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["provenance"]["regenerated_on_demand"] is True
    assert _days(fresh.json()) == 14
    assert not [w for w in fresh.json()["warnings"] if "lookback" in w]
    # What is published now is the 14-day one: a plain read of it is fine, of 30 days is not.
    again = client.get(URL, params={"lookback_days": 14})
    assert again.status_code == 200 and _days(again.json()) == 14
    _refused(client, PUBLISHED_DAYS, 14)
