"""zone occupancy: people per camera, zone and minute (issue 14)

`zone_occupancy`: one row per camera, zone and time bucket (a minute by default) with the
most people inside at once, the mean, the seconds analysed and the count at the newest frame.
Counts only; deleted by privacy retention with the camera's events. Nothing to backfill:
occupancy was never stored before.

Revision ID: 0019_zone_occupancy
Revises: 0018_review_items
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_zone_occupancy"
down_revision = "0018_review_items"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zone_occupancy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("zone", sa.String(length=100), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("bucket_s", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("max_people", sa.Integer(), nullable=False),
        sa.Column("mean_people", sa.Float(), nullable=False),
        sa.Column("now_people", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("camera", "zone", "start", name="uq_zone_occupancy_camera_zone_start"),
    )
    op.create_index("ix_zone_occupancy_camera_start", "zone_occupancy", ["camera", "start"])


def downgrade() -> None:
    op.drop_index("ix_zone_occupancy_camera_start", table_name="zone_occupancy")
    op.drop_table("zone_occupancy")
