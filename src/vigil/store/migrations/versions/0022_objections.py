"""objections to recognition (issue 16) — placeholder, filled in by the change that owns it

Revision ID: 0022_objections
Revises: 0021_match_verification
Create Date: 2026-12-06
"""

revision = "0022_objections"
down_revision = "0021_match_verification"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
