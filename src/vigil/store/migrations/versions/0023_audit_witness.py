"""witnessed audit heads (issue 16, decision 0065)

Site: `audit_witnessed`, each signed head (checkpoint) handed to a witness off the machine
(a file on another disk, syslog, the hub). Hub: `hub_audit_heads`, every site's signed heads
in arrival order (a seq seen again with another hash is a second row: the evidence of a
rewritten chain), and `hub_site_keys`, each site's public key pinned from its first head.

Revision ID: 0023_audit_witness
Revises: 0022_objections
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_audit_witness"
down_revision = "0022_objections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_witnessed",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("witness", sa.String(length=300), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_time", sa.DateTime(), nullable=False),
        sa.Column("witnessed_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("witness", "seq", name="uq_audit_witnessed_witness"),
    )
    op.create_table(
        "hub_audit_heads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.UniqueConstraint("site", "seq", "hash", name="uq_hub_audit_heads_site"),
    )
    op.create_index("ix_hub_audit_heads_site", "hub_audit_heads", ["site"])
    op.create_table(
        "hub_site_keys",
        sa.Column("site", sa.String(length=64), primary_key=True),
        sa.Column("key_id", sa.String(length=32), primary_key=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("pinned_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_site_keys")
    op.drop_index("ix_hub_audit_heads_site", table_name="hub_audit_heads")
    op.drop_table("hub_audit_heads")
    op.drop_table("audit_witnessed")
