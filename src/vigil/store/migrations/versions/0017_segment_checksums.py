"""segment checksums and a record of lost footage (issue 12)

`segments.sha256`: the file's SHA-256, hashed while it is written and stored when it closes;
`segments.verified_at`: when the scrub last re-hashed it. `segment_problems`: a segment whose
file went missing or no longer matches its checksum, kept until an operator acknowledges it.

Revision ID: 0017_segment_checksums
Revises: 0016_hub_site_removals
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_segment_checksums"
down_revision = "0016_hub_site_removals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("segments", sa.Column("sha256", sa.String(length=64), nullable=True))
    op.add_column("segments", sa.Column("verified_at", sa.DateTime(), nullable=True))
    op.create_table(
        "segment_problems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("found_at", sa.DateTime(), nullable=False),
        sa.Column("found_by", sa.String(length=50), nullable=False, server_default=""),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.UniqueConstraint("path", "kind", name="uq_segment_problems_path_kind"),
    )
    op.create_index("ix_segment_problems_camera_start", "segment_problems", ["camera", "start"])


def downgrade() -> None:
    op.drop_index("ix_segment_problems_camera_start", table_name="segment_problems")
    op.drop_table("segment_problems")
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("verified_at")
        batch.drop_column("sha256")
