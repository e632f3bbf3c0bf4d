"""The review items API: auth, filters, paging, per-user reviewed, identities, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.helpers import Client
from vigil.api import ApiContext
from vigil.events.store import Routing, create_event
from vigil.store.models.faces import Person

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
JPEG = b"\xff\xd8jpeg\xff\xd9"


def _seed(ctx: ApiContext) -> dict[str, int]:
    """Four items: lobby 08:00 (person + known Ann, alert, snapshot), lobby 08:10, yard 08:05,
    lobby 08:20 (restricted zone, alert)."""
    with ctx.db.session() as s:
        ann = Person(name="Ann", created_by="test")
        s.add(ann)
    routing = Routing(review_gap_s=30)

    def ev(cam: str, minute: int, kind: str = "person", **kw: object) -> None:
        at = T0 + timedelta(minutes=minute)
        create_event(
            ctx.db,
            camera=cam,
            kind=kind,
            start=at,
            end=at + timedelta(seconds=5),
            data_dir=ctx.data_dir,
            routing=routing,
            **kw,  # type: ignore[arg-type]
        )

    ev("lobby", 0)
    ev("lobby", 0, "known_person", person_id=ann.id, score=0.8, snapshot_jpeg=JPEG)
    ev("lobby", 10)
    ev("yard", 5)
    ev("lobby", 20, "zone_change", zone="store", details={"zone_kind": "restricted"})
    return {"ann": ann.id}


def test_list_filters_and_pages(ctx: ApiContext, clients: dict[str, Client]) -> None:
    _seed(ctx)
    c = clients["viewer"]
    r = c.get("/api/v1/review")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["camera"], i["start"][11:16]) for i in items] == [
        ("lobby", "08:20"),
        ("lobby", "08:10"),
        ("yard", "08:05"),
        ("lobby", "08:00"),
    ]
    first = items[-1]
    assert first["severity"] == "alert" and first["objects"] == {"person": 1, "known_person": 1}
    assert first["snapshot_url"].startswith("/api/v1/events/") and not first["reviewed"]
    assert first["events_url"].startswith("/events?camera=lobby&since=2026-12-01T08%3A00")
    assert "Ann" not in r.text  # an item never names anyone

    sev = c.get("/api/v1/review", params={"severity": "alert"}).json()["items"]
    assert [i["start"][11:16] for i in sev] == ["08:20", "08:00"]
    cam = c.get("/api/v1/review", params={"camera": "yard"}).json()["items"]
    assert [i["camera"] for i in cam] == ["yard"]
    span = {"since": "2026-12-01T08:05:00Z", "until": "2026-12-01T08:15:00Z"}
    assert len(c.get("/api/v1/review", params=span).json()["items"]) == 2

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = c.get("/api/v1/review", params=params).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [i["id"] for i in items]


def test_reviewed_is_per_user(ctx: ApiContext, clients: dict[str, Client]) -> None:
    _seed(ctx)
    viewer, operator = clients["viewer"], clients["operator"]
    ids = [i["id"] for i in viewer.get("/api/v1/review").json()["items"]]
    assert viewer.post(f"/api/v1/review/{ids[0]}/reviewed").status_code == 204
    assert viewer.post(f"/api/v1/review/{ids[0]}/reviewed").status_code == 204  # idempotent
    r = viewer.post("/api/v1/review/reviewed", json={"ids": ids[1:3]})
    assert r.status_code == 200 and r.json() == {"marked": 2}
    done = viewer.get("/api/v1/review", params={"reviewed": "true"}).json()["items"]
    assert sorted(i["id"] for i in done) == sorted(ids[:3])
    todo = viewer.get("/api/v1/review", params={"reviewed": "false"}).json()["items"]
    assert [i["id"] for i in todo] == [ids[3]]
    # another user has reviewed nothing
    assert all(not i["reviewed"] for i in operator.get("/api/v1/review").json()["items"])
    assert viewer.delete(f"/api/v1/review/{ids[0]}/reviewed").status_code == 204
    assert not viewer.get(f"/api/v1/review/{ids[0]}").json()["reviewed"]


def test_detail_shows_identity_only_with_people_permission(
    ctx: ApiContext, clients: dict[str, Client]
) -> None:
    _seed(ctx)
    items = clients["viewer"].get("/api/v1/review", params={"camera": "lobby"}).json()["items"]
    alert_id = items[-1]["id"]
    seen = clients["viewer"].get(f"/api/v1/review/{alert_id}").json()
    assert [e["kind"] for e in seen["events"]] == ["person", "known_person"]
    assert all(e["person"] is None and e["person_id"] is None for e in seen["events"])
    op = clients["operator"].get(f"/api/v1/review/{alert_id}").json()
    assert op["events"][1]["person"] == "Ann"


def test_auth_and_bad_input(ctx: ApiContext, clients: dict[str, Client], anon: Client) -> None:
    _seed(ctx)
    assert anon.get("/api/v1/review").status_code == 401
    assert clients["auditor"].get("/api/v1/review").status_code == 403  # no view permission
    assert clients["auditor"].post("/api/v1/review/1/reviewed").status_code == 403
    c = clients["viewer"]
    assert c.get("/api/v1/review/999999").status_code == 404
    assert c.post("/api/v1/review/999999/reviewed").status_code == 404
    assert c.delete("/api/v1/review/999999/reviewed").status_code == 404
    r = c.post("/api/v1/review/reviewed", json={"ids": [1, 999999]})
    assert r.status_code == 404 and "999999" in r.text
    assert (
        c.get("/api/v1/review", params={"reviewed": "true"}).json()["items"] == []
    )  # all-or-nothing
    assert c.get("/api/v1/review/0").status_code == 422
    assert c.get("/api/v1/review/abc").status_code == 422
    assert c.get("/api/v1/review", params={"severity": "loud"}).status_code == 422
    assert c.get("/api/v1/review", params={"since": "2026-12-01T08:00:00"}).status_code == 422
    assert c.get("/api/v1/review", params={"cursor": "nonsense"}).status_code == 422
    assert c.get("/api/v1/review", params={"limit": 0}).status_code == 422
    assert c.post("/api/v1/review/reviewed", json={"ids": []}).status_code == 422
    assert c.post("/api/v1/review/reviewed", json={"ids": [1], "x": 1}).status_code == 422
    # a session without the CSRF token cannot mark
    del c.headers["X-CSRF-Token"]
    assert c.post("/api/v1/review/1/reviewed").status_code == 403
