"""templates of unknown faces (kept for the unknown-face retention period only)

Revision ID: 0006_unknown_faces
Revises: 0005_users
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_unknown_faces"
down_revision = "0005_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unknown_faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_uid", sa.String(length=36), nullable=False),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unknown_faces")),
    )
    op.create_index("ix_unknown_faces_event_uid", "unknown_faces", ["event_uid"])
    op.create_index("ix_unknown_faces_seen_at", "unknown_faces", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_unknown_faces_seen_at", table_name="unknown_faces")
    op.drop_index("ix_unknown_faces_event_uid", table_name="unknown_faces")
    op.drop_table("unknown_faces")
