"""outbox rows say which notification of an event they are: started or ended

An event announced while it goes on (a known person) gets a second notification to the same
targets when it completes; `deliveries.state` tells the two apart. Existing rows: started.

Revision ID: 0015_delivery_state
Revises: 0014_sync_updates
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_delivery_state"
down_revision = "0014_sync_updates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="started")
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("state")
