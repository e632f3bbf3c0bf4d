"""web push subscriptions (issue 17)

`push_subscriptions`: the browsers and phones users enabled notifications on, each with its
push endpoint, encryption keys and what it asked for (alerts, review items, cameras). Push
deliveries are outbox rows like MQTT and webhooks (`deliveries.channel` = "push", target the
subscription's id): the channel column is a plain string, so nothing else changes.

Revision ID: 0026_web_push
Revises: 0025_camera_health
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_web_push"
down_revision = "0025_camera_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey(
                "users.id", ondelete="CASCADE", name="fk_push_subscriptions_user_id_users"
            ),
            nullable=False,
        ),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("alerts", sa.Boolean(), nullable=False),
        sa.Column("reviews", sa.Boolean(), nullable=False),
        sa.Column("cameras", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),
        sqlite_autoincrement=True,  # ids are outbox targets: never reused
    )
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_push_subscriptions_user_id", "push_subscriptions")
    op.drop_table("push_subscriptions")
