"""per-user unmask grant for privacy-protected viewing (issue 7)

Revision ID: 0013_unmask
Revises: 0012_hub_push
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_unmask"
down_revision = "0012_hub_push"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("can_unmask", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("can_unmask")
