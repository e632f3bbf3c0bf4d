"""two-person match verification (issue 16)

`watchlists.confirmations_required` (how many different people confirm a match before its
notifications go out), `events.verification` and `events.confirmations_required` (a match's
state), `deliveries.held` (an outbox row waiting for that), `match_verifications` (each
person's verdict and reason), `verified_pairs` (match score and person, labelled by the
verdicts, for calibration) and `hub_watchlists.confirmations_required` (pushed to the sites;
NULL: each site's default).

Existing `alert` watchlists get the default of two confirmations; existing events and outbox
rows are left as they were (nothing already stored is held back).

Revision ID: 0021_match_verification
Revises: 0020_recognition_log
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_match_verification"
down_revision = "0020_recognition_log"
branch_labels = None
depends_on = None

ALERT_DEFAULT = 2  # frozen copy of `vigil.events.verification.ALERT_CONFIRMATIONS`


def upgrade() -> None:
    op.add_column(
        "watchlists",
        sa.Column("confirmations_required", sa.Integer(), nullable=False, server_default="0"),
    )
    wl = sa.table("watchlists", sa.column("action", sa.String), sa.column("confirmations_required"))
    op.execute(
        wl.update().where(wl.c.action == "alert").values(confirmations_required=ALERT_DEFAULT)
    )
    op.add_column("events", sa.Column("verification", sa.String(length=16), nullable=True))
    op.add_column(
        "events",
        sa.Column("confirmations_required", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_events_verification", "events", ["verification"])
    op.add_column(
        "deliveries", sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "match_verifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "event_uid",
            sa.String(length=36),
            sa.ForeignKey(
                "events.uid", ondelete="CASCADE", name="fk_match_verifications_event_uid_events"
            ),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("event_uid", "actor", name="uq_match_verifications_actor"),
    )
    op.create_index("ix_match_verifications_event_uid", "match_verifications", ["event_uid"])
    op.create_table(
        "verified_pairs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_uid", sa.String(length=36), nullable=False),
        sa.Column(
            "person_id",
            sa.Integer(),
            sa.ForeignKey(
                "people.id", ondelete="CASCADE", name="fk_verified_pairs_person_id_people"
            ),
            nullable=False,
        ),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("label", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("labelled_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("event_uid", name="uq_verified_pairs_event_uid"),
    )
    op.create_index("ix_verified_pairs_person_id", "verified_pairs", ["person_id"])
    op.add_column(
        "hub_watchlists", sa.Column("confirmations_required", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of `events` would drop its triggers and,
    # through the foreign keys, its deliveries.
    op.drop_column("hub_watchlists", "confirmations_required")
    op.drop_table("verified_pairs")
    op.drop_table("match_verifications")
    op.drop_column("deliveries", "held")
    op.drop_index("ix_events_verification", "events")
    op.drop_column("events", "confirmations_required")
    op.drop_column("events", "verification")
    op.drop_column("watchlists", "confirmations_required")
