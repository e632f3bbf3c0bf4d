"""web push subscriptions (issue 17) — placeholder, filled in by the change that owns it

Revision ID: 0027_web_push
Revises: 0026_timeline_thumbnails
Create Date: 2026-12-06
"""

revision = "0027_web_push"
down_revision = "0026_timeline_thumbnails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
