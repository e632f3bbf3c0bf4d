"""events and notification outbox

Revision ID: 0004_events
Revises: 0003_audit
Create Date: 2026-11-28
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_events"
down_revision = "0003_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
