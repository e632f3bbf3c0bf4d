"""users, sessions and API tokens

Revision ID: 0005_users
Revises: 0004_events
Create Date: 2026-11-28
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005_users"
down_revision = "0004_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
