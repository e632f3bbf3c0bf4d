"""event updates carried to the hub (issue 8)

Revision ID: 0014_sync_updates
Revises: 0013_unmask
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0014_sync_updates"
down_revision = "0013_unmask"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
