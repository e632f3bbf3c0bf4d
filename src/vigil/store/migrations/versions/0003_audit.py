"""audit log records and signed checkpoints

Revision ID: 0003_audit
Revises: 0002_camera
Create Date: 2026-11-28
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_audit"
down_revision = "0002_camera"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
