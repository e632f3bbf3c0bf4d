"""audit truncation anchor (issue 7)

Revision ID: 0010_audit_anchor
Revises: 0009_events_start_index
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0010_audit_anchor"
down_revision = "0009_events_start_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
