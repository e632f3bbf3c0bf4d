"""per-user unmask grant for privacy-protected viewing (issue 7)

Revision ID: 0013_unmask
Revises: 0012_hub_push
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0013_unmask"
down_revision = "0012_hub_push"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
