"""saved live-view layouts per user (issue 17) — placeholder, filled in by the change that owns it

Revision ID: 0024_live_layouts
Revises: 0023_audit_witness
Create Date: 2026-12-06
"""

revision = "0024_live_layouts"
down_revision = "0023_audit_witness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
