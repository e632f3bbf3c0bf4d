"""Watchlists (roles, audit, errors), zones and masks, the machine time line, camera activity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.helpers import Client, client_for, now
from vigil.api import ApiContext
from vigil.config import ZoneConfig
from vigil.events.store import create_event
from vigil.events.watchlists import actions_for
from vigil.privacy.audit import AuditLog
from vigil.store.db import Database
from vigil.store.models.camera import MotionEvent
from vigil.store.models.faces import Person


def _person(db: Database, name: str) -> int:
    with db.session() as s:
        p = Person(name=name, created_by="test")
        s.add(p)
        s.flush()
        return p.id


def test_watchlist_crud_members_and_audit(clients: dict[str, Client], ctx: ApiContext) -> None:
    op = clients["operator"]
    alice = _person(ctx.db, "Alice")
    r = op.post("/api/v1/watchlists", json={"name": " Banned ", "action": "alert"})
    assert r.status_code == 201, r.text
    wl = r.json()
    assert wl["name"] == "Banned" and wl["action"] == "alert" and wl["members"] == []
    wid = wl["id"]
    assert (
        op.post("/api/v1/watchlists", json={"name": "Banned", "action": "notify"}).status_code
        == 422
    )
    r = op.put(f"/api/v1/watchlists/{wid}/members/{alice}")
    assert r.status_code == 200 and r.json()["members"] == [{"id": alice, "name": "Alice"}]
    assert op.put(f"/api/v1/watchlists/{wid}/members/{alice}").status_code == 200  # idempotent
    assert actions_for(ctx.db, alice) == {"Banned": "alert"}
    r = op.patch(f"/api/v1/watchlists/{wid}", json={"action": "ignore", "name": "Quiet"})
    assert r.status_code == 200 and r.json()["action"] == "ignore" and r.json()["name"] == "Quiet"
    assert [w["name"] for w in op.get("/api/v1/watchlists").json()] == ["Quiet"]
    assert op.get(f"/api/v1/watchlists/{wid}").json()["members"][0]["name"] == "Alice"
    assert op.delete(f"/api/v1/watchlists/{wid}/members/{alice}").status_code == 200
    assert op.delete(f"/api/v1/watchlists/{wid}/members/{alice}").status_code == 404
    assert op.delete(f"/api/v1/watchlists/{wid}").status_code == 204
    assert op.get(f"/api/v1/watchlists/{wid}").status_code == 404
    changes = [
        r.details["change"]
        for r in AuditLog.from_config(ctx.config).query(ctx.db, action="change_watchlist")
    ]
    assert sorted(changes) == sorted(["create", "add", "add", "update", "remove", "delete"])


def test_watchlist_errors_and_roles(
    clients: dict[str, Client], anon: Client, ctx: ApiContext
) -> None:
    op, viewer = clients["operator"], clients["viewer"]
    assert anon.get("/api/v1/watchlists").status_code == 401
    assert viewer.get("/api/v1/watchlists").status_code == 403
    assert (
        viewer.post("/api/v1/watchlists", json={"name": "x", "action": "alert"}).status_code == 403
    )
    assert clients["auditor"].get("/api/v1/watchlists").status_code == 403
    for bad in (
        {"name": "", "action": "alert"},
        {"name": "x", "action": "shout"},
        {"name": "x"},
        {"name": "x", "action": "alert", "extra": 1},
        {"name": "   ", "action": "alert"},
    ):
        r = op.post("/api/v1/watchlists", json=bad)
        assert r.status_code == 422 and r.json()["detail"], bad
    wid = op.post("/api/v1/watchlists", json={"name": "VIP", "action": "notify"}).json()["id"]
    assert op.put(f"/api/v1/watchlists/{wid}/members/999").status_code == 404
    assert op.put("/api/v1/watchlists/999/members/1").status_code == 404
    assert op.patch("/api/v1/watchlists/999", json={"action": "alert"}).status_code == 404
    assert op.delete("/api/v1/watchlists/0").status_code == 422
    # CSRF: a session without the header may not change anything.
    bare = client_for(ctx, "operator")
    bare.headers.pop("X-CSRF-Token")
    assert bare.delete(f"/api/v1/watchlists/{wid}").status_code == 403


ZONED = {
    "name": "press 1",
    "kind": "machine",
    "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]],
}


def test_zones_masks_and_machine_day(
    clients: dict[str, Client], anon: Client, ctx: ApiContext
) -> None:
    cam = ctx.config.cameras[0]
    ctx.config.cameras[0] = cam.model_copy(
        update={
            "zones": [
                ZoneConfig(**ZONED),
                ZoneConfig(name="back door", kind="doorway", polygon=[(0, 0), (0.1, 0), (0, 0.1)]),
            ],
            "privacy_masks": [[(0.0, 0.0), (0.2, 0.0), (0.2, 0.2)]],
        }
    )
    v = clients["viewer"]
    body = v.get("/api/v1/cameras/lobby/zones").json()
    assert body["zones"][0]["name"] == "press 1" and body["zones"][0]["kind"] == "machine"
    assert body["zones"][0]["polygon"][1] == [0.5, 0.1]
    assert body["privacy_masks"] == [[[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]]]
    assert v.get("/api/v1/cameras/nope/zones").status_code == 404
    assert anon.get("/api/v1/cameras/lobby/zones").status_code == 401
    assert clients["auditor"].get("/api/v1/cameras/lobby/zones").status_code == 403

    day = datetime.now().astimezone().replace(hour=10, minute=0, second=0, microsecond=0)
    for i, state in enumerate(("running", "idle", "running")):
        a = day + timedelta(minutes=30 * i)
        create_event(
            ctx.db,
            camera="lobby",
            kind="zone_change",
            start=a,
            end=a + timedelta(minutes=30),
            zone="press 1",
            details={"zone_kind": "machine", "state": state},
        )
    create_event(
        ctx.db,
        camera="lobby",
        kind="zone_change",
        start=day,
        end=day,
        zone="door",
        details={"zone_kind": "doorway", "state": "in"},
    )
    r = v.get("/api/v1/cameras/lobby/zones/day", params={"day": day.date().isoformat()})
    assert r.status_code == 200, r.text
    d = r.json()
    m = d["machines"][0]
    assert m["zone"] == "press 1" and [s["state"] for s in m["spans"]] == [
        "running",
        "idle",
        "running",
    ]
    assert m["minutes"]["running"] == 60.0 and m["minutes"]["idle"] == 30.0
    # Every configured doorway is listed, even with no crossings.
    assert d["doorways"] == [
        {"zone": "back door", "counts": {}},
        {"zone": "door", "counts": {"in": 1}},
    ]
    assert v.get("/api/v1/cameras/lobby/zones/day", params={"day": "yesterday"}).status_code == 422


def test_camera_activity_motion_and_events(clients: dict[str, Client], ctx: ApiContext) -> None:
    t = now() - timedelta(hours=1)
    with ctx.db.session() as s:
        s.add(MotionEvent(camera="lobby", start=t, end=t + timedelta(seconds=20), peak_area=0.3))
        s.add(MotionEvent(camera="yard", start=t, end=t + timedelta(seconds=20), peak_area=0.3))
    create_event(ctx.db, camera="lobby", kind="person", start=t + timedelta(seconds=5))
    create_event(ctx.db, camera="yard", kind="person", start=t)
    v = clients["viewer"]
    a = v.get("/api/v1/cameras/lobby/activity").json()
    assert len(a["motion"]) == 1 and a["motion"][0]["peak_area"] == 0.3
    assert [e["kind"] for e in a["events"]] == ["person"] and not a["truncated"]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for params, code in (
        ({"start": start.isoformat(), "end": (start + timedelta(days=8)).isoformat()}, 422),
        ({"start": start.isoformat(), "end": start.isoformat()}, 422),
        ({"start": "2020-01-01T00:00:00"}, 422),  # no timezone
    ):
        assert v.get("/api/v1/cameras/lobby/activity", params=params).status_code == code
    assert clients["auditor"].get("/api/v1/cameras/lobby/activity").status_code == 403
