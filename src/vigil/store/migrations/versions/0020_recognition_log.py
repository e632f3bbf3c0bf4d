"""recognition log: the periods live face recognition ran on each camera (issue 16)

`recognition_periods`: one row per period with its start, end (null while open), newest
heartbeat, how it ended, the model, threshold and the gallery hash and sizes checked, and the
seqs of its `recognition_start`/`recognition_stop` audit records. Nothing to backfill: no
period was recorded before.

Revision ID: 0020_recognition_log
Revises: 0019_zone_occupancy
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_recognition_log"
down_revision = "0019_zone_occupancy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recognition_periods",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ended_by", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("gallery_hash", sa.String(length=64), nullable=False),
        sa.Column("templates", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("watchlists", sa.JSON(), nullable=False),
        sa.Column("start_seq", sa.Integer(), nullable=True),
        sa.Column("stop_seq", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_recognition_periods_camera_started_at",
        "recognition_periods",
        ["camera", "started_at"],
    )
    op.create_index("ix_recognition_periods_ended_at", "recognition_periods", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_recognition_periods_ended_at", table_name="recognition_periods")
    op.drop_index("ix_recognition_periods_camera_started_at", table_name="recognition_periods")
    op.drop_table("recognition_periods")
