"""objections to recognition: one template each, at the site and at the hub

A site keeps each objection it recorded or the hub pushed to it (`objections`); the hub keeps
every site's (`hub_objections`) and pushes them to the other sites. A template, who recorded
it, when, why and an optional reference: no photo, no name.

Revision ID: 0022_objections
Revises: 0021_match_verification
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_objections"
down_revision = "0021_match_verification"
branch_labels = None
depends_on = None


def _common() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "objections",
        *_common(),
        sa.Column("origin_site", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
        sa.UniqueConstraint("uid", name=op.f("uq_objections_uid")),
    )
    op.create_table(
        "hub_objections",
        *_common(),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_objections")),
        sa.UniqueConstraint("uid", name=op.f("uq_hub_objections_uid")),
    )


def downgrade() -> None:
    op.drop_table("hub_objections")
    op.drop_table("objections")
