"""Issue 13: who sees identities in events, searches by identity need a reason and are audited,
and extreme input (far-off times with offsets, bad cursors, control characters in names) is a
422 with a sentence, never a server error."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.api.helpers import Client, now
from tests.api.test_audit_coverage import Trail, _enrol
from vigil.api import ApiContext
from vigil.events.store import create_event

IDENTITY = ("person", "person_id", "score", "confidence")


@pytest.fixture
def known(clients: dict[str, Client], ctx: ApiContext, faces_dir: Path) -> tuple[int, str]:
    """An enrolled person seen once on `lobby` (id, event uid), and a plain motion event."""
    pid = _enrol(clients["operator"], faces_dir)
    create_event(ctx.db, camera="lobby", kind="motion", start=now())
    ev = create_event(
        ctx.db,
        camera="lobby",
        kind="known_person",
        start=now(),
        person_id=pid,
        score=0.71,
        confidence=0.99,
    )
    return pid, ev.uid


def test_identity_fields_only_for_the_people_permission(
    clients: dict[str, Client], known: tuple[int, str]
) -> None:
    pid, uid = known
    op, viewer = clients["operator"], clients["viewer"]
    [seen] = [e for e in op.get("/api/v1/events").json()["events"] if e["uid"] == uid]
    assert seen["person"] == "Barack Obama" and seen["person_id"] == pid
    assert seen["score"] == pytest.approx(0.71) and seen["confidence"] == pytest.approx(0.99)
    assert op.get(f"/api/v1/events/{uid}").json()["person"] == "Barack Obama"
    # The viewer sees the same events, kind and all, but not who.
    events = viewer.get("/api/v1/events").json()["events"]
    assert len(events) == 2 and uid in {e["uid"] for e in events}
    for e in [*events, viewer.get(f"/api/v1/events/{uid}").json()]:
        assert all(e[k] is None for k in IDENTITY), e
    assert "Barack" not in viewer.get("/api/v1/events").text


def test_listing_by_identity_needs_a_reason_and_is_audited(
    clients: dict[str, Client], ctx: ApiContext, known: tuple[int, str]
) -> None:
    pid, uid = known
    trail = Trail(ctx)
    for role in ("viewer", "operator", "admin"):
        c = clients[role]
        for params in ({"kind": "known_person"}, {"kind": ["motion", "known_person"]}):
            r = c.get("/api/v1/events", params={**params, "reason": " "})
            assert r.status_code == 422 and "reason" in r.json()["detail"], (role, r.text)
        assert not trail.new("search_person")
        r = c.get("/api/v1/events", params={"kind": "known_person", "reason": "incident 12"})
        assert r.status_code == 200 and [e["uid"] for e in r.json()["events"]] == [uid]
        [rec] = trail.new("search_person", role)
        assert rec.reason == "incident 12" and rec.details["kinds"] == ["known_person"]
        assert rec.details["results"] == 1
        trail.mark()
    # Other kinds are no search by identity: no reason, no record.
    assert clients["viewer"].get("/api/v1/events", params={"kind": "motion"}).status_code == 200
    # A viewer may not list one person's events at all, reason or not.
    r = clients["viewer"].get("/api/v1/events", params={"person_id": pid, "reason": "curious"})
    assert r.status_code == 403
    assert not trail.new("search_person")


EXTREMES = [
    ("events", {"since": "0001-01-01T00:00:00+14:00"}),
    ("events", {"since": "9999-12-31T23:59:59-14:00"}),
    ("events", {"until": "9999-12-31T23:59:59-14:00"}),
    ("events", {"cursor": "2026-01-01T00:00:00|1"}),  # no zone
    ("events", {"cursor": "2026-01-01|99999999999999999999999"}),
    ("events", {"cursor": "2026-01-01T00:00:00+00:00|9223372036854775808"}),
    ("events", {"cursor": "0001-01-01T00:00:00+14:00|1"}),
    ("events", {"cursor": "9999-12-31T23:59:59-14:00|1"}),
    ("events", {"cursor": "2026-01-01T00:00:00Z|-1"}),
    ("audit", {"since": "0001-01-01T00:00:00+14:00"}),
    ("audit", {"until": "9999-12-31T23:59:59-14:00"}),
    ("cameras/lobby/recordings", {"start": "0001-01-01T00:00:00+14:00"}),
    ("cameras/lobby/recordings", {"end": "9999-12-31T23:59:59-14:00"}),
]


@pytest.mark.parametrize(("path", "params"), EXTREMES)
def test_extreme_times_and_cursors_are_422(
    clients: dict[str, Client], path: str, params: dict[str, str]
) -> None:
    r = clients["admin"].get(f"/api/v1/{path}", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert any(w in detail for w in ("timezone", "between", "cursor")), detail


def test_times_are_normalised_to_utc_and_bounded(
    clients: dict[str, Client], known: tuple[int, str]
) -> None:
    op = clients["operator"]
    first = op.get("/api/v1/events", params={"limit": 1}).json()
    assert first["next_cursor"]
    older = op.get("/api/v1/events", params={"cursor": first["next_cursor"]}).json()
    assert len(older["events"]) == 1
    # The same instant written with an offset: the same page.
    t, _, ident = first["next_cursor"].rpartition("|")
    shifted = datetime.fromisoformat(t).astimezone(timezone(timedelta(hours=-9, minutes=-30)))
    again = op.get("/api/v1/events", params={"cursor": f"{shifted.isoformat()}|{ident}"}).json()
    assert again == older
    # The range is checked in UTC: 01:00 at +02:00 on 1 Jan 3000 is still 2999.
    r = op.get("/api/v1/events", params={"since": "3000-01-01T01:00:00+02:00"})
    assert r.json() == {"events": [], "next_cursor": None}
    r = op.get("/api/v1/events", params={"since": "3000-01-01T00:00:00Z"})
    assert r.status_code == 422 and "between" in r.json()["detail"]


@pytest.mark.parametrize("bad", ["staff\x00", "a\nb", "\x1b[31mred", "tab\there", "\x7f"])
def test_control_characters_in_names_are_422(
    clients: dict[str, Client], faces_dir: Path, bad: str
) -> None:
    op = clients["operator"]
    assert op.post("/api/v1/watchlists", json={"name": bad, "action": "notify"}).status_code == 422
    wl = op.post("/api/v1/watchlists", json={"name": " staff ", "action": "notify"}).json()
    assert wl["name"] == "staff"
    assert op.patch(f"/api/v1/watchlists/{wl['id']}", json={"name": bad}).status_code == 422
    assert op.get("/api/v1/watchlists").json()[0]["name"] == "staff"
    r = op.post("/api/v1/auth/tokens", json={"name": bad})
    assert r.status_code == 422, r.text
    photo = ("photos", ("a.jpg", (faces_dir / "obama.jpg").read_bytes(), "image/jpeg"))
    r = op.post("/api/v1/people", data={"name": bad, "legal_basis": "consent"}, files=[photo])
    assert r.status_code == 422 and "control characters" in r.json()["detail"], r.text
    assert op.get("/api/v1/people").json() == []
