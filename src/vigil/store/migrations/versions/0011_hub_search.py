"""hub face search with pgvector HNSW (issue 8)

Revision ID: 0011_hub_search
Revises: 0010_audit_anchor
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0011_hub_search"
down_revision = "0010_audit_anchor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the area that owns these tables


def downgrade() -> None:
    pass
