"""onvif cameras (issue 17) — placeholder, filled in by the change that owns it

Revision ID: 0028_onvif
Revises: 0027_web_push
Create Date: 2026-12-06
"""

revision = "0028_onvif"
down_revision = "0027_web_push"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
