"""A publication is consumed in batches, and is still one transaction: all or nothing.

`publish_recommendations` takes an iterable (the pipeline parses its frame's documents as it
goes, PUBLISH_BATCH at a time). Each batch supersedes its own services' active rows; if the
iterable fails half-way, none of the batches already written may stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Republication:
    """A first publication in the store, and the documents of the next one, an hour later."""

    before: dict[str, dict[str, str]]  # recommendation_ids after the first publication
    later: datetime
    documents: list[dict[str, Any]]


@pytest.fixture
def republication(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Republication:
    """Both tests' set-up: the chain ingested and published once; batches of 2 from now on."""
    ingest_chain(engine)
    first = datetime.now(UTC)
    before = publish(engine, generated_at=first)
    monkeypatch.setattr(published_recommendations, "PUBLISH_BATCH", 2)
    later = first + timedelta(hours=1)
    return Republication(before, later, recommendation_documents(generated_at=later))


def test_batches_supersede_every_service_once(engine: Engine, republication: Republication) -> None:
    assert len(SERVICES) > 2 * 2  # several batches
    counts = publish_recommendations(
        engine, iter(republication.documents), snapshot_id=None, generated_at=republication.later
    )
    assert counts["published"] == counts["superseded"] == 2 * len(SERVICES)
    assert _active(engine) == 2 * len(SERVICES)  # one per service and SLI type
    after, before = recommendation_ids(engine), republication.before
    assert after.keys() == before.keys()
    assert all(after[s] != before[s] for s in before)


def test_a_publication_failing_half_way_leaves_the_previous_one(
    engine: Engine, republication: Republication
) -> None:
    def failing() -> Iterator[dict[str, Any]]:
        yield from republication.documents[:4]  # two batches written
        raise RuntimeError("the frame's fifth document does not parse")

    with pytest.raises(RuntimeError):
        publish_recommendations(
            engine, failing(), snapshot_id=None, generated_at=republication.later
        )
    assert recommendation_ids(engine) == republication.before
    assert _active(engine) == 2 * len(SERVICES)
