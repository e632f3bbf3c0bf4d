"""The audit page's recognition log in headless Chromium: an auditor sees a camera's period
of live recognition and its match with the people who verified it, and downloads the signed
export, which verifies."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.web.conftest import Site
from vigil.api import accounts
from vigil.events.store import create_event
from vigil.privacy.audit import Action, AuditLog
from vigil.privacy.bundle import verify_export
from vigil.privacy.recognition_log import RecognitionLog
from vigil.store.base import utcnow
from vigil.store.models.users import Role

PASSWORD = "an auditor's own password"
pytestmark = pytest.mark.timeout(120)


def test_auditor_sees_periods_and_verified_matches(  # type: ignore[no-untyped-def]
    site: Site, browser, artifacts: Path, tmp_path: Path
) -> None:
    db = site.ctx.db
    audit = AuditLog.from_config(site.ctx.config)
    log = RecognitionLog(db, audit, model="sface-test", threshold=0.42)
    log.started("lobby")
    event = create_event(
        db,
        camera="lobby",
        kind="known_person",
        start=utcnow(),
        score=0.7,
        on_created=log.match_hook,
    )
    audit.record(
        db,
        actor="verifier",
        action=Action.match_verify,
        reason="same person as enrolled",
        details={"event": event.uid, "verdict": "confirm"},
    )
    log.stopped("lobby")
    if not accounts.admin_exists(db):  # else the login page offers first-run set-up
        accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(db, "inspector", PASSWORD, Role.auditor, created_by="test")

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(20000)
    page.goto(site.url + "/login", wait_until="domcontentloaded")
    page.fill("input[name=username]", "inspector")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/audit")  # an auditor's home page
    page.wait_for_selector("#recognition-matches tr")
    periods = page.inner_text("#recognition-periods")
    assert "lobby" in periods and "sface-test" in periods and "0.420" in periods
    assert "stopped" in periods
    matches = page.inner_text("#recognition-matches")
    assert "0.700" in matches and "verifier: confirm" in matches and event.uid in matches
    shots = artifacts / "web"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / "40-recognition-log.png"), full_page=True)
    # The signed export for an authority, downloaded from the page, verifies.
    since = (datetime.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    until = (datetime.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#recognition-export input[name=since]", since)
    page.fill("#recognition-export input[name=until]", until)
    page.fill("#recognition-export input[name=reason]", "authority request 7")
    with page.expect_download() as download:
        page.click("#recognition-export button")
    bundle = tmp_path / "export.zip"
    download.value.save_as(bundle)
    checks = verify_export(bundle, data_dir=site.ctx.config.storage.data_dir, scratch=tmp_path)
    assert checks and all(c.ok for c in checks)
    page.fill("#recognition-filter input[name=camera]", "yard")  # filtered away
    page.click("#recognition-filter button")
    page.wait_for_function("() => !document.querySelector('#recognition-matches tr')")
    page.context.close()
