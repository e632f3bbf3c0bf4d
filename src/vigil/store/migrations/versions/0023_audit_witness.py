"""witnessed audit heads (issue 16) — placeholder, filled in by the change that owns it

Revision ID: 0023_audit_witness
Revises: 0022_objections
Create Date: 2026-12-06
"""

revision = "0023_audit_witness"
down_revision = "0022_objections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
