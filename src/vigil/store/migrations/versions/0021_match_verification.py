"""two-person match verification (issue 16) — placeholder, filled in by the change that owns it

Revision ID: 0021_match_verification
Revises: 0020_recognition_log
Create Date: 2026-12-06
"""

revision = "0021_match_verification"
down_revision = "0020_recognition_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
