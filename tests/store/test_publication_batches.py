"""A publication is consumed in batches, and is still one transaction: all or nothing.

`publish_recommendations` takes an iterable (the pipeline parses its frame's documents as it
goes, PUBLISH_BATCH at a time). Each batch supersedes its own services' active rows; if the
iterable fails half-way, none of the batches already written may stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from support.published_fleet import (
    SERVICES,
    ingest_chain,
    publish,
    recommendation_documents,
    recommendation_ids,
)

from store import published_recommendations
from store.published_recommendations import publish_recommendations
from store.tables import slo_recommendations


def _active(engine: Engine) -> int:
    r = slo_recommendations
    with engine.connect() as conn:
        count: int = conn.execute(
            sa.select(sa.func.count()).select_from(r).where(r.c.status == "active")
        ).scalar_one()
    return count


def test_batches_supersede_every_service_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_chain(engine)
    first = datetime.now(UTC)
    before = publish(engine, generated_at=first)
    monkeypatch.setattr(published_recommendations, "PUBLISH_BATCH", 2)
    assert len(SERVICES) > 2 * 2  # several batches
    later = first + timedelta(hours=1)
    documents = recommendation_documents(generated_at=later)
    counts = publish_recommendations(engine, iter(documents), snapshot_id=None, generated_at=later)
    assert counts["published"] == counts["superseded"] == 2 * len(SERVICES)
    assert _active(engine) == 2 * len(SERVICES)  # one per service and SLI type
    after = recommendation_ids(engine)
    assert after.keys() == before.keys()
    assert all(after[s] != before[s] for s in before)


def test_a_publication_failing_half_way_leaves_the_previous_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_chain(engine)
    first = datetime.now(UTC)
    before = publish(engine, generated_at=first)
    monkeypatch.setattr(published_recommendations, "PUBLISH_BATCH", 2)
    later = first + timedelta(hours=1)
    documents = recommendation_documents(generated_at=later)

    def failing() -> Iterator[dict[str, Any]]:
        yield from documents[:4]  # two batches written
        raise RuntimeError("the frame's fifth document does not parse")

    with pytest.raises(RuntimeError):
        publish_recommendations(engine, failing(), snapshot_id=None, generated_at=later)
    assert recommendation_ids(engine) == before
    assert _active(engine) == 2 * len(SERVICES)
