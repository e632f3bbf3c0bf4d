"""The hub's API and pages (`web: true` in hub.yaml): sites, cameras, events across sites with
keyset paging and filters, thumbnails, search by photo across sites (audited with reason),
roles; and the pages in headless Chromium."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.api.helpers import PASSWORD, Client
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, serve
from vigil.api import accounts
from vigil.api.context import ApiContext
from vigil.faces.engine import FaceEngine
from vigil.hub.actor import Actor
from vigil.hub.app import create_hub_app
from vigil.hub.config import HubConfig
from vigil.hub.context import HubContext, create_hub_context
from vigil.hub.gallery import TemplateIn, enrol
from vigil.privacy.audit import AuditLog
from vigil.store.db import Database
from vigil.store.models import HubCameraStatus, HubEvent, HubSite
from vigil.store.models.faces import LegalBasis
from vigil.store.models.users import Role
from vigil.vision.image import load_image

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROLES = ("admin", "operator", "viewer", "auditor")


@dataclass
class Hub:
    ctx: ApiContext
    hub: HubContext
    db: Database
    dir: Path
    obama_uid: str


def _enrol_obama(db: Database, hub_dir: Path, engine: FaceEngine, faces: Path) -> str:
    templates = []
    for name in ("obama.jpg", "obama2.jpg"):
        data = (faces / name).read_bytes()
        face = engine.analyze(load_image(data, label=name))[0]
        sha = hashlib.sha256(data).hexdigest()
        templates.append(TemplateIn(face.embedding, sha, face.quality.score, engine.model_name))
    uid, _ = enrol(
        db,
        AuditLog(hub_dir),
        Actor("admin", "test"),
        "Obama",
        templates,
        legal_basis=LegalBasis.consent,
        reason="press pass",
    )
    return uid


def _seed(db: Database, hub_dir: Path, obama_uid: str) -> None:
    """Two sites: alpha (2 cameras, 4 events, one of Obama with a thumbnail), beta (1, 2)."""
    thumbs = hub_dir / "thumbs"
    (thumbs / "alpha" / "gate").mkdir(parents=True)
    picture = np.full((48, 64, 3), (40, 120, 200), np.uint8)
    cv2.imwrite(str(thumbs / "alpha" / "gate" / "e-a1.jpg"), picture)
    rows = [
        ("e-a1", "alpha", "gate", "known_person", 0, obama_uid, "alpha/gate/e-a1.jpg"),
        ("e-a2", "alpha", "gate", "motion", 10, None, None),
        ("e-a3", "alpha", "yard", "person", 20, None, None),
        ("e-a4", "alpha", "yard", "motion", 20, None, None),  # same start: ordered by id
        ("e-b1", "beta", "door", "person", 5, None, None),
        ("e-b2", "beta", "door", "known_person", 30, obama_uid, None),
    ]
    with db.session() as s:
        for site in ("alpha", "beta"):
            s.add(HubSite(name=site, first_seen=T0, last_seen=T0 + timedelta(minutes=1)))
        for site, cam in (("alpha", "gate"), ("alpha", "yard"), ("beta", "door")):
            s.add(HubCameraStatus(site=site, camera=cam, status="recording", at=T0))
        for i, (uid, site, cam, kind, sec, person, thumb) in enumerate(rows):
            s.add(
                HubEvent(
                    uid=uid,
                    site=site,
                    edge_id=i + 1,
                    camera=cam,
                    kind=kind,
                    start=T0 + timedelta(seconds=sec),
                    person_uid=person,
                    thumbnail=thumb,
                    score=0.9 if person else None,
                    confidence=0.99 if person else None,
                )
            )


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, engine: FaceEngine, faces_dir: Path
) -> Iterator[Hub]:
    hub_dir = tmp_path_factory.mktemp("hub")
    db = Database(f"sqlite:///{hub_dir / 'hub.db'}")
    uid = _enrol_obama(db, hub_dir, engine, faces_dir)
    _seed(db, hub_dir, uid)
    ctx = create_hub_context(HubConfig(hub_dir=hub_dir), db, engine=engine)
    for role in ROLES:
        accounts.create_user(ctx.db, role, PASSWORD, Role(role), created_by="test")
    yield Hub(ctx, HubContext(hub_dir, ["alpha", "beta", "gamma"]), db, hub_dir, uid)
    db.close()


def _client(h: Hub, role: str) -> Client:
    return Client(create_hub_app(h.ctx, h.hub, web=False)).login(role)


def _audit(h: Hub, action: str) -> list:  # type: ignore[type-arg]
    return AuditLog(h.dir).query(h.db, action=action)


def test_sites_cameras_and_roles(hub: Hub) -> None:
    viewer = _client(hub, "viewer")
    sites = {s["name"]: s for s in viewer.get("/api/v1/hub/sites").json()}
    assert list(sites) == ["alpha", "beta", "gamma"]  # gamma admitted, never seen
    assert sites["alpha"]["events"] == 4 and sites["alpha"]["cameras"] == 2
    assert sites["beta"]["events"] == 2 and sites["gamma"]["last_seen"] is None
    assert {s["link"] for s in sites.values()} == {"unknown"}  # no nats-server in this test
    cams = viewer.get("/api/v1/hub/cameras", params={"site": "alpha"}).json()
    assert [(c["camera"], c["status"], c["events"]) for c in cams] == [
        ("gate", "recording", 2),
        ("yard", "recording", 2),
    ]
    auditor = _client(hub, "auditor")
    assert auditor.get("/api/v1/hub/sites").status_code == 403
    assert auditor.get("/api/v1/audit").status_code == 200  # the hub's own audit log
    r = viewer.post("/api/v1/hub/sites/alpha/cameras/gate/clip", json={})
    assert r.status_code == 403  # viewers may not export
    op = _client(hub, "operator")
    body = {"start": T0.isoformat(), "end": (T0 + timedelta(seconds=5)).isoformat()}
    r = op.post("/api/v1/hub/sites/nowhere/cameras/gate/clip", json={**body, "reason": "x-1"})
    assert r.status_code == 404 and "no site 'nowhere'" in r.json()["detail"]
    r = op.post("/api/v1/hub/sites/alpha/cameras/gate/clip", json={**body, "reason": "case 1"})
    assert r.status_code == 503 and "without its nats-server" in r.json()["detail"]
    assert (
        Client(create_hub_app(hub.ctx, hub.hub, web=False)).get("/api/v1/hub/sites").status_code
        == 401
    )


def test_events_across_sites_paged_filtered_and_audited_by_person(hub: Hub) -> None:
    c = _client(hub, "viewer")
    everything = [e["uid"] for e in c.get("/api/v1/hub/events").json()["events"]]
    assert everything == ["e-b2", "e-a4", "e-a3", "e-a2", "e-b1", "e-a1"]  # newest first
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = c.get("/api/v1/hub/events", params=params).json()
        seen += [e["uid"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything  # keyset pages: each event once, in order
    uids = lambda **q: [e["uid"] for e in c.get("/api/v1/hub/events", params=q).json()["events"]]  # noqa: E731
    assert uids(site="beta") == ["e-b2", "e-b1"]
    assert uids(site="alpha", camera="yard", kind="motion") == ["e-a4"]
    assert uids(since=(T0 + timedelta(seconds=20)).isoformat()) == ["e-b2", "e-a4", "e-a3"]
    assert c.get("/api/v1/hub/events", params={"cursor": "nonsense"}).status_code == 422
    # A viewer sees no identities, and may not list one person's events (issue 13).
    everyone = c.get("/api/v1/hub/events").json()["events"]
    assert all(e["person"] is None and e["person_uid"] is None for e in everyone)
    assert all(e["score"] is None and e["confidence"] is None for e in everyone)
    r = c.get("/api/v1/hub/events", params={"person": "Obama", "reason": "case 9"})
    assert r.status_code == 403
    op = _client(hub, "operator")
    r = op.get("/api/v1/hub/events", params={"person": "Obama"})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = op.get("/api/v1/hub/events", params={"person": "Nobody", "reason": "case 0"})
    assert r.status_code == 404
    before = len(_audit(hub, "search_person"))
    page = op.get("/api/v1/hub/events", params={"person": "Obama", "reason": "case 9"}).json()
    assert [(e["uid"], e["person"]) for e in page["events"]] == [
        ("e-b2", "Obama"),
        ("e-a1", "Obama"),
    ]
    records = _audit(hub, "search_person")
    assert len(records) == before + 1
    assert records[0].reason == "case 9" and records[0].actor == "operator"
    # Every recognised person (kind=known_person): a reason for every role, audited.
    for who in (c, op):
        assert who.get("/api/v1/hub/events", params={"kind": "known_person"}).status_code == 422
    r = c.get("/api/v1/hub/events", params={"kind": "known_person", "reason": "case 10"})
    assert r.status_code == 200
    assert _audit(hub, "search_person")[0].details["kinds"] == ["known_person"]
    # thumbnail: served and audited; an event without one is a 404
    (a1,) = [
        e
        for e in c.get("/api/v1/hub/events", params={"site": "alpha"}).json()["events"]
        if e["thumbnail_url"]
    ]
    r = c.get(a1["thumbnail_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content.startswith(b"\xff\xd8")
    assert _audit(hub, "view_events")[0].details["uid"] == "e-a1"
    assert c.get("/api/v1/hub/events/e-a2/thumbnail.jpg").status_code == 404


def test_search_by_photo_across_sites_is_audited(hub: Hub, faces_dir: Path) -> None:
    op = _client(hub, "operator")
    photo = (faces_dir / "obama3.jpg").read_bytes()
    r = op.post("/api/v1/hub/search/photo", files={"photo": ("o.jpg", photo)}, data={"reason": ""})
    assert r.status_code == 422
    assert (
        _client(hub, "viewer")
        .post(
            "/api/v1/hub/search/photo", files={"photo": ("o.jpg", photo)}, data={"reason": "case 3"}
        )
        .status_code
        == 403
    )
    r = op.post(
        "/api/v1/hub/search/photo", files={"photo": ("o.jpg", photo)}, data={"reason": "case 3"}
    )
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["match"]["known"] and res["match"]["name"] == "Obama"
    assert [(e["site"], e["uid"]) for e in res["events"]] == [("beta", "e-b2"), ("alpha", "e-a1")]
    rec = _audit(hub, "search_face")[0]
    assert rec.reason == "case 3" and rec.actor == "operator" and rec.details["events"] == 2
    r = op.post(
        "/api/v1/hub/search/photo",
        files={"photo": ("x.jpg", b"not an image")},
        data={"reason": "case 3"},
    )
    assert r.status_code == 422


@pytest.fixture(scope="module")
def hub_url(hub: Hub) -> Iterator[str]:
    with serve(create_hub_app(hub.ctx, hub.hub)) as url:
        yield url


def test_hub_pages_in_chromium(hub_url: str, artifacts: Path, faces_dir: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (scripts/system-deps.sh test)")
    from playwright.sync_api import expect, sync_playwright

    out = artifacts / "web"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(f"{hub_url}/events")
        expect(page).to_have_url(f"{hub_url}/login?next=/events")
        page.fill("#login-form [name=username]", "operator")
        page.fill("#login-form [name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{hub_url}/events")
        items = page.locator("#hub-events-list li.event")
        expect(items).to_have_count(6)
        expect(items.first).to_contain_text("beta")
        expect(items.first).to_contain_text("Obama")
        # by person: refused without a reason (shown on the page), then audited with one
        page.fill("#hub-events-filter [name=person]", "Obama")
        page.click("#hub-events-filter button[type=submit]")
        expect(page.locator("#hub-events-filter .msg")).to_contain_text("reason")
        expect(items).to_have_count(0)
        page.fill("#hub-events-filter [name=reason]", "case 10")
        page.click("#hub-events-filter button[type=submit]")
        expect(items).to_have_count(2)
        page.fill("#hub-events-filter [name=person]", "")
        page.fill("#hub-events-filter [name=reason]", "")
        page.select_option("#hub-events-filter [name=site]", "alpha")
        page.click("#hub-events-filter button[type=submit]")
        expect(items).to_have_count(4)
        # the clip dialog: the site is unreachable here (no nats-server): the error is shown
        items.first.locator("button.clip").click()
        page.fill("#clip-form [name=reason]", "incident 5")
        page.click("#clip-form button[type=submit]")
        expect(page.locator("#clip-form .msg")).to_contain_text("without its nats-server")
        page.click("#clip-cancel")
        page.screenshot(path=str(out / "hub-events.png"), full_page=True)

        page.goto(f"{hub_url}/")
        rows = page.locator("#hub-sites tbody tr")
        expect(rows).to_have_count(3)
        expect(page.locator("#hub-sites tr[data-site=alpha]")).to_contain_text("unknown")
        expect(page.locator("#hub-cameras tbody tr")).to_have_count(3)
        alpha = page.locator("#hub-sites tr[data-site=alpha] .audit-chain")
        alpha.locator("button.audit-check").click()  # the audit chain is for auditors
        expect(alpha).to_contain_text("the operator role may not")
        page.screenshot(path=str(out / "hub-dashboard.png"), full_page=True)

        page.goto(f"{hub_url}/search")
        page.set_input_files("#hub-search-form [name=photo]", str(faces_dir / "obama3.jpg"))
        page.fill("#hub-search-form [name=reason]", "missing person 118")
        page.click("#hub-search-form button[type=submit]")
        expect(page.locator("#hub-match")).to_contain_text("Obama")
        expect(page.locator("#hub-search-events li.event")).to_have_count(2)
        page.screenshot(path=str(out / "hub-search.png"), full_page=True)
        browser.close()
