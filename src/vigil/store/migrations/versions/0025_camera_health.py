"""camera health: each camera's kept reference picture and latest measures (issue 17)

`camera_health`: one row per camera with the path of its reference JPEG (what "moved" and
"blurred" are judged against, and the "before" picture of its alarms), when it was taken, and
the newest frame's picture measures. The alarms themselves are events of the new `camera_*`
kinds (the kind column is a plain string: no change there). Nothing to backfill.

Revision ID: 0025_camera_health
Revises: 0024_live_layouts
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_camera_health"
down_revision = "0024_live_layouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_health",
        sa.Column("camera", sa.String(length=100), primary_key=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("reference_at", sa.DateTime(), nullable=True),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("camera_health")
