"""review items: a camera's overlapping events grouped into one activity (issue 14)

`review_items` (camera, span, severity, object counts, best event), `review_item_events`
(which events an item holds; a row goes with its event), `review_marks` (reviewed per user),
and `deliveries.review_id`/`review_state` so an item's MQTT announcements ride the same
outbox as events.

Existing events are grouped here, once, with the default 30 s gap; every backfilled item is
closed and announced nowhere. The rule is a frozen copy of `vigil.events.review` as it was
when written (a migration must not change when that module does).

Revision ID: 0018_review_items
Revises: 0017_segment_checksums
Create Date: 2026-12-06
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0018_review_items"
down_revision = "0017_segment_checksums"
branch_labels = None
depends_on = None

GAP = timedelta(seconds=30)


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("objects", sa.JSON(), nullable=False),
        sa.Column(
            "best_event_id",
            sa.Integer(),
            sa.ForeignKey(
                "events.id", ondelete="SET NULL", name="fk_review_items_best_event_id_events"
            ),
            nullable=True,
        ),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_review_items_camera_start", "review_items", ["camera", "start"])
    op.create_index("ix_review_items_start_id", "review_items", ["start", "id"])
    op.create_table(
        "review_item_events",
        sa.Column(
            "item_id",
            sa.Integer(),
            sa.ForeignKey(
                "review_items.id",
                ondelete="CASCADE",
                name="fk_review_item_events_item_id_review_items",
            ),
            primary_key=True,
        ),
        sa.Column(
            "event_id",
            sa.Integer(),
            sa.ForeignKey(
                "events.id", ondelete="CASCADE", name="fk_review_item_events_event_id_events"
            ),
            primary_key=True,
        ),
        sa.UniqueConstraint("event_id", name="uq_review_item_events_event_id"),
    )
    op.create_table(
        "review_marks",
        sa.Column(
            "item_id",
            sa.Integer(),
            sa.ForeignKey(
                "review_items.id", ondelete="CASCADE", name="fk_review_marks_item_id_review_items"
            ),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_review_marks_user_id_users"),
            primary_key=True,
        ),
        sa.Column("reviewed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_review_marks_user_id", "review_marks", ["user_id"])
    # ALTER TABLE ... ADD COLUMN, never a batch copy: recreating `deliveries` on SQLite drops
    # the old table, and its foreign keys would empty `delivery_log` on the way. No foreign key
    # either (SQLite cannot add one in place): `vigil.events.review` deletes an item's rows
    # with the item, and the dispatcher gives up a row whose item is gone.
    op.add_column("deliveries", sa.Column("review_id", sa.Integer(), nullable=True))
    op.add_column("deliveries", sa.Column("review_state", sa.String(length=16), nullable=True))
    op.create_index("ix_deliveries_review_id", "deliveries", ["review_id"])
    _backfill()


def _alert(kind: str, details: dict) -> bool:
    if details.get("action") == "ignore":
        return False
    if kind == "known_person" or details.get("watchlists"):
        return True
    return kind == "zone_change" and details.get("zone_kind") == "restricted"


def _reviewable(kind: str, details: dict) -> bool:
    return kind != "motion" and not (
        kind == "zone_change" and details.get("zone_kind") == "machine"
    )


def _backfill() -> None:
    conn = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.Integer),
        sa.column("camera", sa.String),
        sa.column("kind", sa.String),
        sa.column("start", sa.DateTime),
        sa.column("end", sa.DateTime),
        sa.column("snapshot", sa.Text),
        sa.column("score", sa.Float),
        sa.column("details", sa.JSON),
    )
    items = sa.table(
        "review_items",
        sa.column("id", sa.Integer),
        sa.column("camera", sa.String),
        sa.column("start", sa.DateTime),
        sa.column("end", sa.DateTime),
        sa.column("severity", sa.String),
        sa.column("objects", sa.JSON),
        sa.column("best_event_id", sa.Integer),
        sa.column("closed", sa.Boolean),
        sa.column("created_at", sa.DateTime),
        sa.column("updated_at", sa.DateTime),
    )
    links = sa.table("review_item_events", sa.column("item_id"), sa.column("event_id"))
    rows = conn.execute(
        sa.select(events).order_by(events.c.camera, events.c.start, events.c.id)
    ).all()
    group: list = []

    def flush() -> None:
        if not group:
            return
        now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as stored
        objects: dict[str, int] = {}
        for r in group:
            objects[r.kind] = objects.get(r.kind, 0) + 1
        shots = [r for r in group if r.snapshot]
        best = max(shots, key=lambda r: (r.score or -1.0, r.id)).id if shots else None
        ends = [r.end for r in group]
        item_id = conn.execute(
            items.insert()
            .values(
                camera=group[0].camera,
                start=min(r.start for r in group),
                end=None if None in ends else max(ends),
                severity="alert"
                if any(_alert(r.kind, r.details or {}) for r in group)
                else "detection",
                objects=objects,
                best_event_id=best,
                closed=True,
                created_at=now,
                updated_at=now,
            )
            .returning(items.c.id)
        ).scalar_one()
        conn.execute(links.insert(), [{"item_id": item_id, "event_id": r.id} for r in group])
        group.clear()

    reach: datetime | None = None
    for r in rows:
        if not _reviewable(r.kind, r.details or {}):
            continue
        if group and (r.camera != group[0].camera or (reach is not None and r.start > reach + GAP)):
            flush()
        if not group:
            reach = r.end or r.start
        if reach is not None:
            reach = None if r.end is None else max(reach, r.end)
        group.append(r)
    flush()


def downgrade() -> None:
    op.drop_index("ix_deliveries_review_id", table_name="deliveries")
    op.execute("DELETE FROM deliveries WHERE review_id IS NOT NULL")
    op.drop_column("deliveries", "review_state")  # in place on SQLite 3.35+
    op.drop_column("deliveries", "review_id")
    op.drop_index("ix_review_marks_user_id", table_name="review_marks")
    op.drop_table("review_marks")
    op.drop_table("review_item_events")
    op.drop_index("ix_review_items_start_id", table_name="review_items")
    op.drop_index("ix_review_items_camera_start", table_name="review_items")
    op.drop_table("review_items")
