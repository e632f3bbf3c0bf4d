"""timeline thumbnails (issue 17) — placeholder, filled in by the change that owns it

Revision ID: 0026_timeline_thumbnails
Revises: 0025_camera_health
Create Date: 2026-12-06
"""

revision = "0026_timeline_thumbnails"
down_revision = "0025_camera_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
