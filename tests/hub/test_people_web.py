"""The hub's people and watchlists from the web (`web: true` in hub.yaml): enrol, remove and
watchlist changes through /api/v1/hub, admin only, audited with the reason as the CLI does;
bad photos refused with nothing stored; the People page in headless Chromium. The pushes to
the sites are tested in test_gallery.py: here the hub's queue shows them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.api.helpers import PASSWORD, Client
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, serve
from vigil.api import accounts
from vigil.api.context import ApiContext
from vigil.faces.engine import FaceEngine
from vigil.hub.app import create_hub_app
from vigil.hub.config import HubConfig
from vigil.hub.context import HubContext, create_hub_context
from vigil.hub.gallery import list_people, list_watchlists
from vigil.hub.placement import note_site_audit
from vigil.hub.pusher import pending_pushes
from vigil.privacy.audit import AuditLog
from vigil.store.db import Database
from vigil.store.models import HubAuditRecord
from vigil.store.models.users import Role

ROLES = ("admin", "operator", "viewer")


@dataclass
class Hub:
    ctx: ApiContext
    hub: HubContext
    db: Database
    dir: Path


@pytest.fixture
def hub(tmp_path: Path, engine: FaceEngine) -> Iterator[Hub]:
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    ctx = create_hub_context(HubConfig(hub_dir=tmp_path), db, engine=engine)
    for role in ROLES:
        accounts.create_user(ctx.db, role, PASSWORD, Role(role), created_by="test")
    yield Hub(ctx, HubContext(tmp_path, ["alpha", "beta", "gamma"]), db, tmp_path)
    db.close()


def _client(h: Hub, role: str) -> Client:
    return Client(create_hub_app(h.ctx, h.hub, web=False)).login(role)


def _audit(h: Hub, action: str) -> list:  # type: ignore[type-arg]
    return AuditLog(h.dir).query(h.db, action=action)


def _pending(h: Hub) -> list[tuple[str, str]]:
    return sorted((p.site, p.verb) for p in pending_pushes(h.db))


def _photos(faces: Path, *names: str) -> list[tuple[str, tuple[str, bytes]]]:
    return [("photos", (n, (faces / n).read_bytes())) for n in names]


def test_enrol_watchlist_and_remove_through_the_api(hub: Hub, faces_dir: Path) -> None:
    admin, op = _client(hub, "admin"), _client(hub, "operator")
    form = {"name": "Obama", "legal_basis": "consent", "reason": "wanted, case 12"}
    assert _client(hub, "viewer").get("/api/v1/hub/people").status_code == 403
    r = op.post("/api/v1/hub/people", data=form, files=_photos(faces_dir, "obama.jpg"))
    assert r.status_code == 403 and "operator" in r.json()["detail"]
    r = admin.post(
        "/api/v1/hub/people",
        data={**form, "reason": " "},
        files=_photos(faces_dir, "obama.jpg"),
    )
    assert r.status_code == 422 and "reason" in r.json()["detail"]

    r = admin.post(
        "/api/v1/hub/people", data=form, files=_photos(faces_dir, "obama.jpg", "obama2.jpg")
    )
    assert r.status_code == 201, r.text
    person = r.json()["person"]
    uid = person["uid"]
    assert r.json()["added"] == 2 and person["templates"] == 2 and person["placements"] == []
    (rec,) = _audit(hub, "enroll")
    assert (rec.actor, rec.reason, rec.target_id) == ("admin", "wanted, case 12", uid)
    assert rec.source.startswith("api ") and rec.details["legal_basis"] == "consent"
    assert _pending(hub) == []  # on no watchlist: sent nowhere

    r = admin.post("/api/v1/hub/watchlists", json={"name": "wanted", "sites": ["alpha", "delta"]})
    assert r.status_code == 422 and "no site delta" in r.json()["detail"]
    r = admin.post("/api/v1/hub/watchlists", json={"name": "wanted", "sites": ["alpha", "beta"]})
    assert r.status_code == 201, r.text
    wl = r.json()["uid"]
    assert op.put(f"/api/v1/hub/watchlists/{wl}/members/{uid}").status_code == 403
    r = admin.put(f"/api/v1/hub/watchlists/{wl}/members/{uid}")
    assert r.status_code == 200 and r.json()["members"] == ["Obama"]
    detail = op.get(f"/api/v1/hub/people/{uid}").json()
    assert detail["watchlists"] == ["wanted"]
    assert [(x["site"], x["state"]) for x in detail["placements"]] == [
        ("alpha", "queued"),
        ("beta", "queued"),
    ]
    assert ("alpha", "person.put") in _pending(hub) and ("beta", "person.put") in _pending(hub)
    changes = [(x.actor, x.details["change"]) for x in _audit(hub, "change_watchlist")]
    assert changes == [("admin", "add"), ("admin", "create")]  # newest first

    r = admin.patch(f"/api/v1/hub/watchlists/{wl}", json={"sites": ["alpha"]})
    assert r.status_code == 200 and r.json()["sites"] == ["alpha"]
    assert _audit(hub, "change_watchlist")[0].details["removed_sites"] == ["beta"]
    (listed,) = op.get("/api/v1/hub/people").json()
    assert listed["sites"] == ["alpha"]
    assert ("beta", "person.remove") in _pending(hub)

    r = admin.delete(f"/api/v1/hub/people/{uid}")
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    assert admin.delete("/api/v1/hub/people/nobody", params={"reason": "gone"}).status_code == 404
    r = admin.delete(f"/api/v1/hub/people/{uid}", params={"reason": "case 12 closed"})
    assert r.status_code == 204
    assert op.get("/api/v1/hub/people").json() == []
    (rec,) = _audit(hub, "remove_person")
    assert (rec.actor, rec.reason, rec.target_id) == ("admin", "case 12 closed", uid)
    assert ("alpha", "person.remove") in _pending(hub)  # every site they were sent to
    assert r.status_code == 204 and list_watchlists(hub.db)[0].members == []


def test_bad_photos_are_refused_with_nothing_stored(hub: Hub, faces_dir: Path) -> None:
    admin = _client(hub, "admin")
    form = {"name": "Nobody", "legal_basis": "consent", "reason": "test refusal"}
    audited = len(AuditLog(hub.dir).query(hub.db))
    for files in (
        [("photos", ("broken.jpg", b"\xff\xd8 not really a jpeg"))],
        _photos(faces_dir, "obama.jpg", "two_people.jpg"),  # one bad photo: none stored
    ):
        r = admin.post("/api/v1/hub/people", data=form, files=files)
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith("nothing was enrolled")
        assert [p["ok"] for p in r.json()["photos"]] in ([False], [True, False])
    r = admin.post(
        "/api/v1/hub/people",
        data={**form, "legal_basis": "legitimate_interest"},
        files=_photos(faces_dir, "obama.jpg"),
    )
    assert r.status_code == 422 and "note" in r.json()["detail"]
    assert list_people(hub.db) == [] and _pending(hub) == []
    assert len(AuditLog(hub.dir).query(hub.db)) == audited  # only the logins: nothing else
    # Checking photos processes faces too: a reason, and an audit record at the hub.
    r = admin.post("/api/v1/hub/people/check", files=_photos(faces_dir, "obama.jpg"))
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = admin.post(
        "/api/v1/hub/people/check",
        data={"reason": "case 14 intake"},
        files=_photos(faces_dir, "obama.jpg"),
    )
    assert r.status_code == 200 and r.json()["photos"][0]["ok"], r.text
    (rec,) = _audit(hub, "check_photos")
    assert (rec.actor, rec.reason, rec.details["photos"]) == ("admin", "case 14 intake", 1)


def _deleted_at_site(db: Database, site: str, uid: str, by: str, reason: str) -> None:
    """`site`'s audit copies as the hub stores them: its record of the push (our person is its
    id 7 there), then its own operator deleting id 7 (the real round trip: test_gallery)."""
    t = datetime.now(UTC)
    push = {"seq": 1, "time": t.isoformat(), "action": "enroll", "target_kind": "hub_person"}
    push |= {"target_id": uid, "person": "7", "actor": "hub:admin", "reason": "r"}
    local = {"seq": 2, "time": t.isoformat(), "action": "remove_person", "target_kind": "person"}
    local |= {"target_id": "7", "person": "7", "actor": by, "reason": reason}
    with db.session() as s:
        for r in (push, local):
            s.add(HubAuditRecord(site=site, seq=r["seq"], time=t, hash=str(r["seq"]), record=r))
        s.flush()
        assert note_site_audit(s, site, [push, local]) == 1


@pytest.fixture
def hub_url(hub: Hub) -> Iterator[str]:
    with serve(create_hub_app(hub.ctx, hub.hub)) as url:
        yield url


def test_people_page_in_chromium(  # type: ignore[no-untyped-def]
    hub: Hub, hub_url: str, faces_dir: Path, artifacts: Path, capsys, monkeypatch
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (scripts/system-deps.sh test)")
    from playwright.sync_api import expect, sync_playwright

    from vigil.cli import run

    out = artifacts / "web"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def login(role: str):  # type: ignore[no-untyped-def]
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(f"{hub_url}/people")
            page.fill("#login-form [name=username]", role)
            page.fill("#login-form [name=password]", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(f"{hub_url}/people")
            return page

        page = login("admin")
        wf = page.locator("#hub-watchlist-form")
        wf.locator("[name=name]").fill("wanted")
        wf.locator("input[value=alpha]").check()
        wf.locator("input[value=beta]").check()
        wf.locator("button[type=submit]").click()
        expect(page.locator("[data-watchlist=wanted]")).to_contain_text("nobody on this list")

        f = page.locator("#hub-enrol-form")
        f.locator("[name=name]").fill("Obama")
        f.locator("[name=reason]").fill("missing person 118")
        f.locator("[name=photos]").set_input_files([str(faces_dir / "two_people.jpg")])
        f.locator("button[type=submit]").click()
        expect(f.locator(".msg")).to_contain_text("nothing was enrolled")
        f.locator("[name=photos]").set_input_files(
            [str(faces_dir / "obama.jpg"), str(faces_dir / "obama2.jpg")]
        )
        expect(page.locator("#hub-quality li.ok")).to_have_count(2)  # checked before enrolling
        f.locator("button[type=submit]").click()
        expect(f.locator(".msg")).to_contain_text("2 template(s) added")
        row = page.locator("#hub-people-list tr[data-name=Obama]")
        expect(row).to_contain_text("sent to no site")
        row.locator("select").select_option(label="wanted")
        expect(row.locator(".placement")).to_have_count(2)
        expect(row.locator(".placement[data-site=alpha]")).to_have_text("alpha: queued")
        expect(row.locator(".placement[data-site=beta]")).to_have_text("beta: queued")

        uid = list_people(hub.db)[0].uid
        _deleted_at_site(hub.db, "beta", uid, "beta-op", "erasure request 5")
        page.reload()
        expect(row.locator(".placement[data-site=beta]")).to_contain_text(
            "removed by the site (beta-op,"
        )
        expect(row.locator(".placement[data-site=beta]")).to_contain_text("erasure request 5")
        page.screenshot(path=str(out / "hub-people.png"), full_page=True)
        # the CLI's table says so too (wide enough not to wrap)
        from rich.console import Console

        from vigil.cli import hub_cmd

        monkeypatch.setattr(hub_cmd, "console", Console(width=200))
        capsys.readouterr()
        assert run(["--data-dir", str(hub.dir / "site"), "hub", "--hub-dir", str(hub.dir),
                    "people", "list"]) == 0  # fmt: skip
        table = capsys.readouterr().out
        assert "removed by site" in table and "beta by beta-op: erasure request 5" in table

        # operators see the list, no biometric controls; viewers not even the page
        op = login("operator")
        expect(op.locator("#hub-people-list tr[data-name=Obama]")).to_contain_text("alpha")
        assert op.locator("#hub-enrol-form, #hub-watchlist-form, button.remove").count() == 0
        assert op.locator("#hub-people-list select").count() == 0
        viewer = browser.new_page()
        viewer.goto(f"{hub_url}/login")
        viewer.fill("#login-form [name=username]", "viewer")
        viewer.fill("#login-form [name=password]", PASSWORD)
        viewer.click("#login-form button[type=submit]")
        viewer.wait_for_url(f"{hub_url}/")
        assert viewer.locator("nav a[href='/people']").count() == 0
        assert viewer.goto(f"{hub_url}/people").status == 403  # type: ignore[union-attr]

        card = page.locator("[data-watchlist=wanted]")  # beta off the list: nothing left there
        card.locator("input[value=beta]").uncheck()
        card.locator("button.save-sites").click()
        expect(row.locator(".placement")).to_have_count(1)
        assert list_watchlists(hub.db)[0].sites == ["alpha"]
        row.locator("button.remove").click()
        rf = page.locator("#hub-remove-form")
        rf.locator("[name=reason]").fill("found safe")
        rf.locator("button[type=submit]").click()
        expect(page.locator("#hub-people-list tr[data-name=Obama]")).to_have_count(0)
        expect(page.locator("#hub-people-list")).to_contain_text("nobody is enrolled")
        browser.close()
    (rec,) = _audit(hub, "remove_person")
    assert (rec.actor, rec.reason) == ("admin", "found safe")
    assert ("alpha", "person.remove") in _pending(hub)


def test_a_watchlist_change_the_database_refuses_is_a_clear_error(hub: Hub) -> None:
    """The change and its audit record are written together: when the database refuses one
    (here the audit insert), the answer is a 503 that says so, never a 500, and nothing is
    stored."""
    from sqlalchemy import text

    from vigil.store.models.hub import HubWatchlist

    admin = _client(hub, "admin")
    with hub.ctx.db.session() as s:
        s.execute(
            text(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_records "
                "WHEN NEW.action = 'change_watchlist' "
                "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END"
            )
        )
    r = admin.post("/api/v1/hub/watchlists", json={"name": "wanted", "sites": ["alpha"]})
    assert r.status_code == 503 and "no watchlist was created" in r.json()["detail"], r.text
    with hub.ctx.db.session() as s:
        assert s.query(HubWatchlist).count() == 0
