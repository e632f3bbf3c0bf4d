"""evidence holds, export manifests and other privacy tables

Revision ID: 0007_privacy
Revises: 0006_unknown_faces
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007_privacy"
down_revision = "0006_unknown_faces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
