"""recording segments and motion events

Revision ID: 0002_camera
Revises: 0001_faces
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_camera"
down_revision = "0001_faces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "motion_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=True),
        sa.Column("peak_area", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_motion_events")),
    )
    with op.batch_alter_table("motion_events", schema=None) as batch_op:
        batch_op.create_index("ix_motion_events_camera_start", ["camera", "start"], unique=False)

    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("keyframes", sa.JSON(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("lock_reason", sa.Text(), nullable=False),
        sa.Column("lock_owner", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("path", name=op.f("uq_segments_path")),
    )
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.create_index("ix_segments_camera_start", ["camera", "start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_index("ix_segments_camera_start")

    op.drop_table("segments")
    with op.batch_alter_table("motion_events", schema=None) as batch_op:
        batch_op.drop_index("ix_motion_events_camera_start")

    op.drop_table("motion_events")
