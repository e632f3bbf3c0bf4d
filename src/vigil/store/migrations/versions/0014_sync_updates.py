"""event updates carried to the hub (issue 8)

Every insert, update and delete of an event takes the next number of a site-wide counter
(`sync_counter`, one row): inserts and updates store it in `events.sync_version`, deletes
leave a `sync_tombstones` row. The publisher's cursor runs over those numbers, so an event
announced then completed, or whose person was deleted, is published again (Msg-Id
`<uid>:<version>`), and a deleted one reaches the hub as a tombstone. Triggers, not Python,
so no writer (retention, erasure, a foreign key's SET NULL) can change an event unseen;
updating the counter row also serialises writers, so versions commit in order.
The hub keeps each event's version (`hub_events.version`) and the uids its sites deleted.

A SQLite batch migration that recreates `events` drops these triggers: re-create them there.

Revision ID: 0014_sync_updates
Revises: 0013_unmask
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_sync_updates"
down_revision = "0013_unmask"
branch_labels = None
depends_on = None

_NEXT = "UPDATE sync_counter SET value = value + 1 WHERE id = 1;"
_CURRENT = "(SELECT value FROM sync_counter WHERE id = 1)"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER events_sync_insert AFTER INSERT ON events
    BEGIN
        {_NEXT}
        UPDATE events SET sync_version = {_CURRENT} WHERE id = NEW.id;
    END""",
    # the WHEN keeps the trigger's own UPDATE from firing it again
    f"""CREATE TRIGGER events_sync_update AFTER UPDATE ON events
    WHEN NEW.sync_version = OLD.sync_version
    BEGIN
        {_NEXT}
        UPDATE events SET sync_version = {_CURRENT} WHERE id = NEW.id;
    END""",
    f"""CREATE TRIGGER events_sync_delete AFTER DELETE ON events
    BEGIN
        {_NEXT}
        INSERT INTO sync_tombstones (version, uid, camera) VALUES ({_CURRENT}, OLD.uid, OLD.camera);
    END""",
]

POSTGRES_TRIGGERS = [
    """CREATE FUNCTION vigil_events_sync_version() RETURNS trigger AS $$
    DECLARE v integer;
    BEGIN
        UPDATE sync_counter SET value = value + 1 WHERE id = 1 RETURNING value INTO v;
        NEW.sync_version := v;
        RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER events_sync_version BEFORE INSERT OR UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION vigil_events_sync_version()""",
    """CREATE FUNCTION vigil_events_sync_tombstone() RETURNS trigger AS $$
    DECLARE v integer;
    BEGIN
        UPDATE sync_counter SET value = value + 1 WHERE id = 1 RETURNING value INTO v;
        INSERT INTO sync_tombstones (version, uid, camera) VALUES (v, OLD.uid, OLD.camera);
        RETURN OLD;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER events_sync_tombstone AFTER DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION vigil_events_sync_tombstone()""",
]


def upgrade() -> None:
    op.add_column(
        "events", sa.Column("sync_version", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_index("ix_events_sync_version", "events", ["sync_version"])
    op.create_table(
        "sync_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_counter")),
    )
    op.create_table(
        "sync_tombstones",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_sync_tombstones")),
    )
    # existing events: version = id, so the old id cursor carries over as the version cursor
    op.execute("UPDATE events SET sync_version = id")
    op.execute("INSERT INTO sync_counter (id, value) SELECT 1, COALESCE(MAX(id), 0) FROM events")
    op.execute(
        "INSERT INTO sync_cursors (name, position, updated_at) "
        "SELECT 'event_versions', position, updated_at FROM sync_cursors WHERE name = 'events'"
    )
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for sql in triggers:
        op.execute(sql)

    op.add_column(
        "hub_events", sa.Column("version", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_table(
        "hub_event_tombstones",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("site", "uid", name=op.f("pk_hub_event_tombstones")),
    )
    op.create_index("ix_hub_event_tombstones_deleted_at", "hub_event_tombstones", ["deleted_at"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER events_sync_tombstone ON events")
        op.execute("DROP TRIGGER events_sync_version ON events")
        op.execute("DROP FUNCTION vigil_events_sync_tombstone()")
        op.execute("DROP FUNCTION vigil_events_sync_version()")
    else:
        for name in ("events_sync_insert", "events_sync_update", "events_sync_delete"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_hub_event_tombstones_deleted_at", table_name="hub_event_tombstones")
    op.drop_table("hub_event_tombstones")
    with op.batch_alter_table("hub_events") as batch:
        batch.drop_column("version")
    op.execute("DELETE FROM sync_cursors WHERE name = 'event_versions'")
    op.drop_table("sync_tombstones")
    op.drop_table("sync_counter")
    op.drop_index("ix_events_sync_version", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("sync_version")
