"""people and watchlists pushed from the hub: site-side hub_uid, hub-side placements and pushes

Revision ID: 0012_hub_push
Revises: 0011_hub_search
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_hub_push"
down_revision = "0011_hub_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # site side: a person or watchlist the hub pushed carries the hub's uid (NULL: site-local)
    op.add_column("people", sa.Column("hub_uid", sa.String(length=36), nullable=True))
    op.create_index("ix_people_hub_uid", "people", ["hub_uid"], unique=True)
    op.add_column("watchlists", sa.Column("hub_uid", sa.String(length=36), nullable=True))
    op.create_index("ix_watchlists_hub_uid", "watchlists", ["hub_uid"], unique=True)
    # hub side
    op.create_table(
        "hub_placements",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("site", "kind", "uid", name=op.f("pk_hub_placements")),
    )
    op.create_table(
        "hub_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("verb", sa.String(length=32), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_pushes")),
    )
    op.create_index("ix_hub_pushes_site_done", "hub_pushes", ["site", "done_at"])


def downgrade() -> None:
    op.drop_index("ix_hub_pushes_site_done", table_name="hub_pushes")
    op.drop_table("hub_pushes")
    op.drop_table("hub_placements")
    op.drop_index("ix_watchlists_hub_uid", table_name="watchlists")
    with op.batch_alter_table("watchlists") as batch:
        batch.drop_column("hub_uid")
    op.drop_index("ix_people_hub_uid", table_name="people")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("hub_uid")
