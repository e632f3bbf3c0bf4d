"""The site-hub contract (`vigil.sync.wire`): every model round-trips, bodies written by sites
and hubs from before the contract existed (captured from that code, literally) are still read
by this hub and this site, a newer peer's extra fields are ignored, a newer schema refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.config import VigilConfig
from vigil.hub.ingest import store_batch
from vigil.store.db import Database
from vigil.store.models import (
    HubAuditRecord,
    HubCameraStatus,
    HubEvent,
    HubEventTombstone,
    Person,
    Watchlist,
)
from vigil.sync import wire
from vigil.sync.commands import CommandContext, handle
from vigil.sync.edge import BufferLimits, stream_configs

# --- bodies as the code before `wire` wrote them (json.dumps of its dicts) ---

OLD_EVENT = (
    b'{"site": "north", "uid": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "edge_id": 7, '
    b'"camera": "gate", "kind": "known_person", "start": "2026-03-01T10:00:00+00:00", '
    b'"end": "2026-03-01T10:00:09.500000+00:00", "score": 0.81, "confidence": 0.93, '
    b'"zone": "door", "details": {"person": "Ada", "watchlists": ["staff"]}, '
    b'"person_uid": "hubp-1", "version": 12}'
)
OLD_OPEN_EVENT = (
    b'{"site": "north", "uid": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", "edge_id": 8, '
    b'"camera": "yard", "kind": "motion", "start": "2026-03-01T09:00:00+00:00", "end": null, '
    b'"score": null, "confidence": null, "zone": null, "details": {}, "person_uid": null, '
    b'"version": 13}'
)
# a site from before event versions (0014) and hub people: no version, no person_uid
OLDEST_EVENT = (
    b'{"site": "north", "uid": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e", "edge_id": 9, '
    b'"camera": "gate", "kind": "person", "start": "2026-03-01T08:00:00+00:00", "end": null, '
    b'"score": null, "confidence": null, "zone": null, "details": {}}'
)
OLD_TOMBSTONE = (
    b'{"site": "north", "uid": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d", "camera": "gate", '
    b'"deleted": true, "version": 14}'
)
OLD_AUDIT = (
    b'{"site": "north", "seq": 42, "time": "2026-03-01T10:01:00+00:00", "hash": "'
    + b"ab" * 32
    + b'", "prev_hash": "'
    + b"cd" * 32
    + b'", "actor": "hub:alice", "role": "admin", "action": "enroll", '
    b'"target_kind": "hub_person", "target_id": "hubp-1", "camera": null, "person": "3", '
    b'"reason": "watchlist", "source": "hub", "details": {"via": "hub push"}}'
)
OLD_STATUS = (
    b'{"site": "north", "camera": "gate", "status": "recording", "at": "2026-03-01T10:02:00+00:00"}'
)
OLD_THUMB_HEADERS = {
    "Nats-Msg-Id": "thumb-0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:12",
    "Vigil-Event": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    "Vigil-Version": "12",
}
EMBEDDING = base64.b64encode(bytes(range(16))).decode()
OLD_PERSON_PUT = {
    "uid": "hubp-1",
    "name": "Ada Lovelace",
    "legal_basis": "consent",
    "legal_basis_note": "signed form",
    "review_at": "2027-01-01T00:00:00+00:00",
    "enrolled_by": "alice",
    "requested_by": "alice",
    "reason": "staff list",
    "by": "bob",
    "templates": [{"sha256": "e3" * 32, "model": "sface", "quality": 0.9, "embedding": EMBEDDING}],
}
OLD_WATCHLIST_PUT = {
    "uid": "hubw-1",
    "name": "staff",
    "action": "notify",
    "notes": "",
    "members": ["hubp-1", "hubp-missing"],
    "by": "bob",
}
OLD_REMOVE = {"uid": "hubp-1", "by": "bob", "reason": "left the company"}
OLD_CLIP_REQUEST = {
    "camera": "gate",
    "start": "2026-03-01T10:00:00+00:00",
    "end": "2026-03-01T10:05:00+00:00",
    "reason": "incident 12",
    "who": "alice",
    "redact": True,
}
OLD_CLIP_READY = {
    "ok": True,
    "bucket": "VIGIL_CLIPS",
    "object": "clip-1",
    "clip_name": "gate-20260301T100000.zip",
    "size": 1234,
    "sha256": "f0" * 32,
    "start": "2026-03-01T10:00:00+00:00",
    "end": "2026-03-01T10:05:00+00:00",
    "redacted": True,
    "manifest_sha256": "0f" * 32,
}


def _msgs() -> list[tuple[str, bytes, dict[str, str]]]:
    return [
        ("vigil.north.events.gate", OLD_EVENT, {}),
        ("vigil.north.events.yard", OLD_OPEN_EVENT, {}),
        ("vigil.north.events.gate", OLDEST_EVENT, {}),
        ("vigil.north.events.gate", OLD_TOMBSTONE, {}),
        ("vigil.north.audit", OLD_AUDIT, {}),
        ("vigil.north.status.gate", OLD_STATUS, {}),
        ("vigil.north.thumbs.gate", b"\xff\xd8jpeg", OLD_THUMB_HEADERS),
    ]


def _hub_event(s: Session, uid: str) -> HubEvent | None:
    return s.scalar(select(HubEvent).where(HubEvent.uid == uid))


def test_hub_reads_an_older_sites_messages(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    thumbs = tmp_path / "thumbs"
    try:
        applied = store_batch(db, "north", _msgs(), thumbs)
        assert (applied.events, applied.audit, applied.status, applied.thumbnails) == (3, 1, 1, 1)
        with db.session() as s:
            e = _hub_event(s, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
            assert e is not None
            assert (e.site, e.edge_id, e.camera, e.kind, e.zone) == (
                "north",
                7,
                "gate",
                "known_person",
                "door",
            )
            assert e.start == datetime(2026, 3, 1, 10, tzinfo=UTC)
            assert e.end == datetime(2026, 3, 1, 10, 0, 9, 500000, tzinfo=UTC)
            assert (e.score, e.confidence, e.person_uid, e.version) == (0.81, 0.93, "hubp-1", 12)
            assert e.details == {"person": "Ada", "watchlists": ["staff"]}
            assert e.thumbnail == "north/gate/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.jpg"
            oldest = _hub_event(s, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e")
            assert oldest is not None and oldest.version == 0 and oldest.person_uid is None
            tomb = s.get(HubEventTombstone, ("north", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"))
            assert tomb is not None and tomb.version == 14
            audit = s.get(HubAuditRecord, ("north", 42))
            assert audit is not None and audit.record == json.loads(OLD_AUDIT)  # kept whole
            status = s.get(HubCameraStatus, ("north", "gate"))
            assert status is not None and status.status == "recording"
        again = store_batch(db, "north", _msgs(), thumbs)
        assert (again.events, again.updates, again.audit) == (0, 0, 0)
    finally:
        db.close()


def test_newer_site_extra_fields_are_ignored(tmp_path: Path) -> None:
    def newer(body: bytes) -> bytes:
        d = json.loads(body)
        return json.dumps({**d, "schema": 1, "mood": "sunny", "details": d.get("details")}).encode()

    msgs = [
        (subj, newer(body) if subj.split(".")[2] != "thumbs" else body, h)
        for subj, body, h in _msgs()
    ]
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        applied = store_batch(db, "north", msgs, tmp_path / "thumbs")
        assert (applied.events, applied.audit, applied.status) == (3, 1, 1)
        with db.session() as s:
            audit = s.get(HubAuditRecord, ("north", 42))
            assert audit is not None and audit.record["mood"] == "sunny"  # the copy is whole
    finally:
        db.close()


def test_newer_schema_is_refused_not_stored_wrong(tmp_path: Path) -> None:
    body = json.dumps({**json.loads(OLD_EVENT), "schema": wire.SCHEMA + 1}).encode()
    with pytest.raises(wire.WireError, match="newer"):
        wire.read_event(body)
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with pytest.raises(wire.WireError):  # the batch fails: unacked, kept at the site
            store_batch(db, "north", [("vigil.north.events.gate", body, {})])
        with db.session() as s:
            assert s.scalar(select(HubEvent.uid)) is None
    finally:
        db.close()


def test_messages_as_written_now_match_the_old_bytes() -> None:
    """Same field names and values as before; only `"schema": 1` is added."""
    for old, model in (
        (OLD_EVENT, wire.EventCopy),
        (OLD_OPEN_EVENT, wire.EventCopy),
        (OLD_TOMBSTONE, wire.EventTombstone),
        (OLD_AUDIT, wire.AuditCopy),
        (OLD_STATUS, wire.CameraStatus),
    ):
        assert model.read(old).encode() == b'{"schema": 1, ' + old[1:]  # byte for byte
    for old_dict, cls in (
        (OLD_PERSON_PUT, wire.PersonPut),
        (OLD_WATCHLIST_PUT, wire.WatchlistPut),
        (OLD_REMOVE, wire.Push),
        (OLD_CLIP_REQUEST, wire.ClipRequestBody),
        (OLD_CLIP_READY, wire.ClipReady),
    ):
        dumped = cls.read(old_dict).dump()
        assert {k: dumped[k] for k in old_dict} == old_dict
        # added: the schema, a reply's empty error, a watchlist push's (empty) reason and
        # its confirmations (None: the site's default for the action)
        added = {"schema", "error", "reason", "confirmations_required"}
        assert set(dumped) - set(old_dict) <= added
    assert wire.Thumbnail.from_headers(OLD_THUMB_HEADERS) == wire.Thumbnail(
        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 12
    )
    assert wire.Thumbnail("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 12).headers() == OLD_THUMB_HEADERS


MODELS: list[wire.WireModel] = [
    wire.EventCopy(
        site="s",
        uid="u",
        edge_id=1,
        camera="c",
        kind="person",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        details={"track": 3},
        version=2,
    ),
    wire.EventTombstone(site="s", uid="u", camera="c", version=3),
    wire.AuditCopy(site="s", seq=1, time=datetime(2026, 1, 1, tzinfo=UTC), hash="h"),
    wire.CameraStatus(site="s", camera="c", status="idle", at=datetime(2026, 1, 1, tzinfo=UTC)),
    wire.Push(uid="u", by="b", reason="r"),
    wire.PersonPut(
        uid="u",
        name="n",
        legal_basis="consent",
        review_at=datetime(2027, 1, 1, tzinfo=UTC),
        templates=[wire.PushedTemplate(sha256="x", model="m", quality=0.5, embedding="AA==")],
    ),
    wire.WatchlistPut(uid="w", name="n", action="notify", members=["u"]),
    wire.Reply(ok=False, error="no"),
    wire.PersonPutReply(person_id=1, added=1, removed=0, changed=True),
    wire.RemoveReply(removed=True, templates=2, events_cleared=5),
    wire.WatchlistPutReply(watchlist_id=1, changed=False, missing_members=["x"]),
    wire.ClipRequestBody(
        camera="c",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
        reason="r",
        who="w",
    ),
    wire.ClipReady(**{k: v for k, v in OLD_CLIP_READY.items()}),  # type: ignore[arg-type]
    wire.ClipMissing(not_found="no footage"),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_every_model_round_trips(model: wire.WireModel) -> None:
    assert type(model).read(model.encode()) == model
    assert type(model).read(model.dump()) == model


def test_writing_is_strict_reading_is_lenient() -> None:
    with pytest.raises(ValueError, match="extra"):
        wire.Push(uid="u", byy="typo")  # type: ignore[call-arg]
    assert wire.Push.read({"uid": "u", "byy": "typo"}).uid == "u"
    with pytest.raises(wire.WireError, match="edge_id"):
        wire.EventCopy.read(b'{"uid": "u", "camera": "c", "kind": "k", "start": "2026-01-01"}')
    with pytest.raises(wire.WireError, match="JSON"):
        wire.read_event(b"[1, 2")
    assert isinstance(wire.read_clip_reply(b'{"ok": true, "not_found": "x"}'), wire.ClipMissing)
    assert isinstance(wire.read_clip_reply(json.dumps(OLD_CLIP_READY)), wire.ClipReady)
    refused = wire.read_clip_reply(b'{"ok": false, "error": "busy"}')
    assert not refused.ok and refused.error == "busy"


def test_subjects_are_made_and_parsed_in_one_place() -> None:
    assert wire.event_subject("north", "gate") == "vigil.north.events.gate"
    assert wire.status_subject("north", "gate") == "vigil.north.status.gate"
    assert wire.audit_subject("north") == "vigil.north.audit"
    assert wire.thumb_subject("north", "gate") == "vigil.north.thumbs.gate"
    assert wire.objection_subject("north") == "vigil.north.objections"
    assert wire.command_subject("north", "person.put") == "vigil.north.cmd.person.put"
    assert wire.commands_wildcard("north") == "vigil.north.cmd.>"
    assert wire.parse_subject("vigil.north.cmd.person.put") == wire.Subject(
        "north", "cmd", "person.put"
    )
    assert wire.parse_subject("vigil.north.audit") == wire.Subject("north", "audit", "")
    assert wire.parse_subject("other.north.audit") is None
    assert wire.parse_subject("vigil.north") is None
    configs = {c.name: c.subjects for c in stream_configs("north", BufferLimits())}
    assert configs == {
        "EVENTS": ["vigil.north.events.>", "vigil.north.status.>", "vigil.north.objections"],
        "AUDIT": ["vigil.north.audit", "vigil.north.heads"],
        "THUMBS": ["vigil.north.thumbs.>"],
    }
    assert tuple(configs) == wire.STREAMS


def test_site_reads_an_older_hubs_commands(tmp_path: Path) -> None:
    """The pushes an older hub queued (and still sends) are applied by this site."""
    db = Database(f"sqlite:///{tmp_path / 'site.db'}")
    ctx = CommandContext(db, VigilConfig.model_validate({"sync": {"site_id": "north"}}), tmp_path)
    try:
        newer = {**OLD_PERSON_PUT, "nickname": "Ada"}  # and a newer hub's extra field
        reply = handle(ctx, "person.put", newer)
        assert reply == {
            "schema": 1,
            "ok": True,
            "error": None,
            "person_id": reply["person_id"],
            "added": 1,
            "removed": 0,
            "changed": True,
        }
        reply = handle(ctx, "watchlist.put", OLD_WATCHLIST_PUT)
        assert reply["ok"] and reply["missing_members"] == ["hubp-missing"]
        with db.session() as s:
            person = s.scalar(select(Person).where(Person.hub_uid == "hubp-1"))
            assert person is not None and person.name == "Ada Lovelace"
            assert person.templates[0].embedding == bytes(range(16))
            w = s.scalar(select(Watchlist).where(Watchlist.hub_uid == "hubw-1"))
            assert w is not None and w.name == "staff"
        assert handle(ctx, "person.remove", OLD_REMOVE)["removed"] is True
        assert handle(ctx, "watchlist.remove", {"uid": "hubw-1"})["removed"] is True
        refused = handle(ctx, "person.put", {**OLD_PERSON_PUT, "schema": wire.SCHEMA + 1})
        assert refused["ok"] is False and "newer" in refused["error"]
        refused = handle(ctx, "person.put", {"uid": "x"})
        assert refused["ok"] is False and "legal_basis" in refused["error"]
    finally:
        db.close()
