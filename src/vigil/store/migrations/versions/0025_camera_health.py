"""camera health and tamper alarms (issue 17) — placeholder, filled in by the change that owns it

Revision ID: 0025_camera_health
Revises: 0024_live_layouts
Create Date: 2026-12-06
"""

revision = "0025_camera_health"
down_revision = "0024_live_layouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
