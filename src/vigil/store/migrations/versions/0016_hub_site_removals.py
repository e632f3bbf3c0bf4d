"""hub placements remember a person's id at the site and a deletion made at the site

A site's audit records reach the hub (AUDIT stream). The site's record of a hub push names the
person's id at the site; a later local `remove_person` of that id (an operator, an erasure)
marks the placement removed (`removed_at`, `removed_seq`: the site's audit record saying who
and why), so the hub shows the site no longer holds the person and does not push them back.

Revision ID: 0016_hub_site_removals
Revises: 0015_delivery_state
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_hub_site_removals"
down_revision = "0015_delivery_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "hub_placements", sa.Column("site_person_id", sa.String(length=200), nullable=True)
    )
    op.add_column("hub_placements", sa.Column("removed_at", sa.DateTime(), nullable=True))
    op.add_column("hub_placements", sa.Column("removed_seq", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hub_placements") as batch:
        batch.drop_column("removed_seq")
        batch.drop_column("removed_at")
        batch.drop_column("site_person_id")
