"""hub tables (sites, synced events and templates)

Revision ID: 0008_hub
Revises: 0007_privacy
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008_hub"
down_revision = "0007_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
