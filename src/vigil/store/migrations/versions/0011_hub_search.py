"""hub gallery: people, templates (pgvector HNSW on PostgreSQL), watchlists naming sites

Revision ID: 0011_hub_search
Revises: 0010_audit_anchor
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_hub_search"
down_revision = "0010_audit_anchor"
branch_labels = None
depends_on = None

LEGAL: tuple[str, ...] = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interest",
    "public_task",
)
LEGAL += ("legitimate_interest",)


def upgrade() -> None:
    op.create_table(
        "hub_people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "legal_basis",
            sa.Enum(*LEGAL, name="legalbasis", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("legal_basis_note", sa.Text(), nullable=False),
        sa.Column("enrolled_by", sa.String(length=200), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.Column("review_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_people")),
        sa.UniqueConstraint("uid", name=op.f("uq_hub_people_uid")),
        sa.UniqueConstraint("name", name=op.f("uq_hub_people_name")),
    )
    op.create_table(
        "hub_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Double(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["hub_people.id"],
            name=op.f("fk_hub_templates_person_id_hub_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_templates")),
    )
    op.create_index("ix_hub_templates_person_id", "hub_templates", ["person_id"])
    if op.get_bind().dialect.name == "postgresql":
        # pgvector: cosine search through an HNSW graph; SQLite keeps the bytes and numpy
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
        op.execute("ALTER TABLE hub_templates ADD COLUMN vec vector(128)")
        op.execute(
            "CREATE INDEX ix_hub_templates_vec ON hub_templates "
            "USING hnsw (vec vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
    op.create_table(
        "hub_watchlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "action",
            sa.Enum("alert", "notify", "ignore", name="watchaction", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_watchlists")),
        sa.UniqueConstraint("uid", name=op.f("uq_hub_watchlists_uid")),
        sa.UniqueConstraint("name", name=op.f("uq_hub_watchlists_name")),
    )
    op.create_table(
        "hub_watchlist_sites",
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["hub_watchlists.id"],
            name=op.f("fk_hub_watchlist_sites_watchlist_id_hub_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watchlist_id", "site", name=op.f("pk_hub_watchlist_sites")),
    )
    op.create_table(
        "hub_watchlist_members",
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["hub_watchlists.id"],
            name=op.f("fk_hub_watchlist_members_watchlist_id_hub_watchlists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["hub_people.id"],
            name=op.f("fk_hub_watchlist_members_person_id_hub_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watchlist_id", "person_id", name=op.f("pk_hub_watchlist_members")),
    )
    op.create_index("ix_hub_watchlist_members_person_id", "hub_watchlist_members", ["person_id"])
    op.add_column("hub_events", sa.Column("person_uid", sa.String(length=36), nullable=True))
    op.create_index("ix_hub_events_person_uid", "hub_events", ["person_uid"])


def downgrade() -> None:
    op.drop_index("ix_hub_events_person_uid", table_name="hub_events")
    with op.batch_alter_table("hub_events") as batch:
        batch.drop_column("person_uid")
    op.drop_index("ix_hub_watchlist_members_person_id", table_name="hub_watchlist_members")
    op.drop_table("hub_watchlist_members")
    op.drop_table("hub_watchlist_sites")
    op.drop_table("hub_watchlists")
    op.drop_index("ix_hub_templates_person_id", table_name="hub_templates")
    op.drop_table("hub_templates")
    op.drop_table("hub_people")
