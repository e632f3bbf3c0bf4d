"""index for the unfiltered events list (newest first, keyset paging by start, id)

Revision ID: 0009_events_start_index
Revises: 0008_hub
Create Date: 2026-11-29
"""

from alembic import op

revision = "0009_events_start_index"
down_revision = "0008_hub"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_start_id", "events", ["start", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_start_id", table_name="events")
