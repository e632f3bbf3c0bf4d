"""hub tables (sites, synced events and templates)

Revision ID: 0008_hub
Revises: 0007_privacy
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_hub"
down_revision = "0007_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_cursors",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_cursors")),
    )
    op.create_table(
        "hub_sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("backlog", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_sites")),
        sa.UniqueConstraint("name", name=op.f("uq_hub_sites_name")),
    )
    op.create_table(
        "hub_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("zone", sa.String(length=100), nullable=True),
        sa.Column("thumbnail", sa.String(length=300), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_events")),
        sa.UniqueConstraint("uid", name=op.f("uq_hub_events_uid")),
    )
    op.create_index("ix_hub_events_site_camera_start", "hub_events", ["site", "camera", "start"])
    op.create_table(
        "hub_camera_status",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("site", "camera", name=op.f("pk_hub_camera_status")),
    )
    op.create_table(
        "hub_audit_records",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("site", "seq", name=op.f("pk_hub_audit_records")),
    )


def downgrade() -> None:
    op.drop_table("hub_audit_records")
    op.drop_table("hub_camera_status")
    op.drop_index("ix_hub_events_site_camera_start", table_name="hub_events")
    op.drop_table("hub_events")
    op.drop_table("hub_sites")
    op.drop_table("sync_cursors")
