"""recognition use log (issue 16) — placeholder, filled in by the change that owns it

Revision ID: 0020_recognition_log
Revises: 0019_zone_occupancy
Create Date: 2026-12-06
"""

revision = "0020_recognition_log"
down_revision = "0019_zone_occupancy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
