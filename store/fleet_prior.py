"""The fleet prior each partition's recommendations drew from, kept so that one service's
`force_regenerate` draws exactly the prior the daily run drew (a regenerated recommendation
must not differ from the published one for the same data)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.tables import fleet_priors


def save_fleet_prior(engine: Engine, partition: str, points: npt.NDArray[np.float64]) -> None:
    """Replace the partition's prior (a re-run of a partition recomputes it)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(fleet_priors).where(fleet_priors.c.partition == partition))
        conn.execute(
            sa.insert(fleet_priors).values(
                partition=partition,
                computed_at=datetime.now(UTC),
                points=[float(p) for p in points],
            )
        )


def load_fleet_prior(engine: Engine, partition: str) -> npt.NDArray[np.float64] | None:
    """The partition's prior, else the newest earlier one, else None (no fleet run yet)."""
    with engine.connect() as conn:
        points = conn.execute(
            sa.select(fleet_priors.c.points)
            .where(fleet_priors.c.partition <= partition)
            .order_by(fleet_priors.c.partition.desc())
            .limit(1)
        ).scalar_one_or_none()
    return np.asarray(points, dtype=np.float64) if points else None
