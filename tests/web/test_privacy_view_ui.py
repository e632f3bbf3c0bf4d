"""Privacy-protected viewing in headless Chromium: a viewer sees people pixelated live and in
playback; a viewer with the unmask grant reveals them with a reason and sees the badge."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.conftest import Site
from vigil.api import accounts
from vigil.privacy.audit import AuditLog
from vigil.store.models.users import Role

PASSWORD = "a viewer's own password"
pytestmark = pytest.mark.timeout(120)

SNAPSHOT_VIEW = """async () => {
  const r = await fetch('/api/v1/cameras/lobby/snapshot.jpg');
  return r.headers.get('x-privacy-view');
}"""


@pytest.fixture(scope="module")
def shots(artifacts: Path) -> Path:
    d = artifacts / "web"
    d.mkdir(exist_ok=True)
    return d


def login(site: Site, browser, username: str):  # type: ignore[no-untyped-def]
    bctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = bctx.new_page()
    page.set_default_timeout(20000)
    page.goto(site.url + "/login", wait_until="domcontentloaded")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/")
    return page


def test_viewer_sees_pixelated_view_and_granted_viewer_reveals(  # type: ignore[no-untyped-def]
    site: Site, browser, shots: Path
) -> None:
    db = site.ctx.db
    if not accounts.admin_exists(db):  # else the login page offers first-run set-up
        accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(db, "guard", PASSWORD, Role.viewer, created_by="test")
    chief = accounts.create_user(db, "chief", PASSWORD, Role.viewer, created_by="test")
    accounts.update_user(db, chief.id, can_unmask=True)

    page = login(site, browser, "guard")
    page.goto(site.url + "/cameras/lobby", wait_until="domcontentloaded")
    page.wait_for_selector("#privacy-badge:has-text('people pixelated')")
    page.wait_for_selector(".frame.has-live")  # the MJPEG view shows frames
    assert page.is_hidden("#unmask-form")  # no grant: no reveal control
    assert page.evaluate(SNAPSHOT_VIEW) == "protected"
    # Playback uses the pixelated rendition, and Chromium plays it.
    page.click("rect.tl-span")
    page.wait_for_function(
        "() => { const v = document.querySelector('#player');"
        " return v.src.endsWith('/protected.mp4') && v.readyState >= 2; }"
    )
    page.screenshot(path=str(shots / "30-privacy-view-viewer.png"))
    page.context.close()

    page = login(site, browser, "chief")
    page.goto(site.url + "/cameras/lobby", wait_until="domcontentloaded")
    page.wait_for_selector("#unmask-form:visible")
    assert page.evaluate(SNAPSHOT_VIEW) == "protected"
    page.fill("#unmask-form input[name=reason]", "incident 2026-7: gate damaged at night")
    page.click("#unmask-form button[type=submit]")
    page.wait_for_selector("#privacy-badge:has-text('unmasked until')")
    assert page.is_hidden("#unmask-form")
    assert page.evaluate(SNAPSHOT_VIEW) == "plain"
    page.click("rect.tl-span")
    page.wait_for_function(
        "() => { const v = document.querySelector('#player');"
        " return /\\/segments\\/\\d+\\.mp4$/.test(v.src) && v.readyState >= 2; }"
    )
    page.wait_for_timeout(500)  # a plain MJPEG frame or two
    page.screenshot(path=str(shots / "31-privacy-view-unmasked.png"))
    page.context.close()
    records = AuditLog.from_config(site.ctx.config).query(db, action="unmask_view")
    assert [(r.actor, r.camera, r.reason) for r in records] == [
        ("chief", "lobby", "incident 2026-7: gate damaged at night")
    ]
