"""intrinsic availability of published recommendations; the fleet prior of each partition

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slo_recommendations") as batch_op:
        batch_op.add_column(sa.Column("intrinsic_availability", sa.Float(), nullable=True))
    op.create_table(
        "fleet_priors",
        sa.Column("partition", sa.String(length=10), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "points",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("partition"),
    )


def downgrade() -> None:
    op.drop_table("fleet_priors")
    with op.batch_alter_table("slo_recommendations") as batch_op:
        batch_op.drop_column("intrinsic_availability")
