"""people and watchlists pushed from the hub (issue 8)

Revision ID: 0012_hub_push
Revises: 0011_hub_search
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0012_hub_push"
down_revision = "0011_hub_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
