"""audit truncation anchor (issue 7)

Revision ID: 0010_audit_anchor
Revises: 0009_events_start_index
Create Date: 2026-11-29

Audit retention deletes the oldest records only up to a signed checkpoint, and only after
inserting, in the same transaction, an anchor at that checkpoint (`audit_anchors`). The
delete triggers of 0003 now let a DELETE through only for rows at or below the newest
anchor's seq: any other UPDATE or DELETE (or TRUNCATE on PostgreSQL) is still refused.
Anchors themselves are append-only, and one is accepted only on an existing checkpoint
(same seq and hash) newer than the previous anchor.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_audit_anchor"
down_revision = "0009_events_start_index"
branch_labels = None
depends_on = None

GUARDED = ("audit_records", "audit_checkpoints")
NEWEST_ANCHOR = "(SELECT COALESCE(MAX(seq), 0) FROM audit_anchors)"
ANCHOR_RULE = "an audit anchor must sit on a checkpoint newer than the previous anchor"


def _sqlite_upgrade() -> None:
    for table in GUARDED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"WHEN OLD.seq > {NEWEST_ANCHOR} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_anchors_no_{verb.lower()} BEFORE {verb} ON audit_anchors "
            "BEGIN SELECT RAISE(ABORT, 'audit_anchors is append-only'); END"
        )
    op.execute(
        "CREATE TRIGGER audit_anchors_on_checkpoint BEFORE INSERT ON audit_anchors "
        "WHEN NOT EXISTS (SELECT 1 FROM audit_checkpoints c "
        "WHERE c.seq = NEW.seq AND c.hash = NEW.hash) "
        f"OR NEW.seq <= {NEWEST_ANCHOR} "
        f"BEGIN SELECT RAISE(ABORT, '{ANCHOR_RULE}'); END"
    )


def _postgresql_upgrade() -> None:
    # Same function name as 0003, so its triggers on both tables pick up the exception.
    op.execute(
        "CREATE OR REPLACE FUNCTION vigil_audit_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'DELETE' AND TG_TABLE_NAME IN ('audit_records', 'audit_checkpoints') THEN "
        f"IF OLD.seq <= {NEWEST_ANCHOR} THEN RETURN OLD; END IF; "
        "END IF; "
        "RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE ON audit_anchors "
        "FOR EACH ROW EXECUTE FUNCTION vigil_audit_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors "
        "FOR EACH STATEMENT EXECUTE FUNCTION vigil_audit_append_only()"
    )
    op.execute(
        "CREATE FUNCTION vigil_audit_anchor_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NOT EXISTS (SELECT 1 FROM audit_checkpoints c "
        "WHERE c.seq = NEW.seq AND c.hash = NEW.hash) "
        f"OR NEW.seq <= {NEWEST_ANCHOR} THEN RAISE EXCEPTION '{ANCHOR_RULE}'; END IF; "
        "RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_anchors_on_checkpoint BEFORE INSERT ON audit_anchors "
        "FOR EACH ROW EXECUTE FUNCTION vigil_audit_anchor_guard()"
    )


def upgrade() -> None:
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("records_removed", sa.Integer(), nullable=False),
        sa.Column("checkpoints_removed", sa.Integer(), nullable=False),
        sa.Column("removed_from", sa.DateTime(), nullable=False),
        sa.Column("removed_to", sa.DateTime(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("checkpoint_time", sa.DateTime(), nullable=False),
        sa.Column("checkpoint_signature", sa.String(length=128), nullable=False),
        sa.Column("checkpoint_key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_anchors_seq")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _postgresql_upgrade()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_on_checkpoint ON audit_anchors")
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_append_only ON audit_anchors")
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_no_truncate ON audit_anchors")
        op.execute("DROP FUNCTION IF EXISTS vigil_audit_anchor_guard()")
        op.execute(
            "CREATE OR REPLACE FUNCTION vigil_audit_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP; END $$"
        )
    op.drop_table("audit_anchors")
