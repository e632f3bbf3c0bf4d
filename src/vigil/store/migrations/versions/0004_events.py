"""events and notification outbox

Revision ID: 0004_events
Revises: 0003_audit
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_events"
down_revision = "0003_audit"
branch_labels = None
depends_on = None

KINDS = ("motion", "person", "face", "known_person", "zone_change")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*KINDS, name="eventkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=True),
        sa.Column("snapshot", sa.Text(), nullable=True),
        sa.Column("box_path", sa.JSON(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("zone", sa.String(length=100), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_events_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("uid", name=op.f("uq_events_uid")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_camera_start", ["camera", "start"], unique=False)
        batch_op.create_index("ix_events_kind_start", ["kind", "start"], unique=False)
        batch_op.create_index("ix_events_person_start", ["person_id", "start"], unique=False)

    op.create_table(
        "watchlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "action",
            sa.Enum("alert", "notify", "ignore", name="watchaction", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlists")),
        sa.UniqueConstraint("name", name=op.f("uq_watchlists_name")),
    )
    op.create_table(
        "watchlist_members",
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_watchlist_members_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_watchlist_members_watchlist_id_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watchlist_id", "person_id", name=op.f("pk_watchlist_members")),
    )
    with op.batch_alter_table("watchlist_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_watchlist_members_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_uid", sa.String(length=36), nullable=False),
        sa.Column(
            "channel",
            sa.Enum("mqtt", "webhook", name="channel", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_uid"],
            ["events.uid"],
            name=op.f("fk_deliveries_event_uid_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_event_uid"), ["event_uid"], unique=False)
        batch_op.create_index(
            "ix_deliveries_pending",
            ["channel", "delivered_at", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "delivery_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_log_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_log")),
    )
    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_log_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_log_delivery_id"))
    op.drop_table("delivery_log")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_pending")
        batch_op.drop_index(batch_op.f("ix_deliveries_event_uid"))
    op.drop_table("deliveries")
    with op.batch_alter_table("watchlist_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_watchlist_members_person_id"))
    op.drop_table("watchlist_members")
    op.drop_table("watchlists")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_person_start")
        batch_op.drop_index("ix_events_kind_start")
        batch_op.drop_index("ix_events_camera_start")
    op.drop_table("events")
