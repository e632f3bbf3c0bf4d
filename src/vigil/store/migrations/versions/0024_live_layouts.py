"""saved live-view layouts per user (issue 17)

`live_layouts`: one row per user and layout name: the grid size (1, 4, 9 or 16 tiles) and the
camera of each tile in reading order (JSON, null for an empty tile). Deleted with the user.
Nothing to backfill: layouts were never stored before.

Revision ID: 0024_live_layouts
Revises: 0023_audit_witness
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_live_layouts"
down_revision = "0023_audit_witness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_layouts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_live_layouts_user_id_users"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("grid", sa.Integer(), nullable=False),
        sa.Column("cameras", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "name", name="uq_live_layouts_user_name"),
    )
    op.create_index("ix_live_layouts_user_id", "live_layouts", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_live_layouts_user_id", table_name="live_layouts")
    op.drop_table("live_layouts")
