"""A tamper alarm in the web UI (real Chromium): raised while the camera page is open, it
appears as a banner with its before and after pictures without a reload, and goes when it
clears; the cameras page lists it in the health summary."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.web.conftest import Site
from tests.web.test_privacy_view_ui import PASSWORD, login
from vigil.api import accounts
from vigil.camera.health import HealthChange
from vigil.events.health import HealthAlarms
from vigil.store.enums import HealthCondition
from vigil.store.models.users import Role
from vigil.vision.image import encode_jpeg

pytestmark = pytest.mark.timeout(120)


def test_tamper_alarm_arrives_in_the_ui_and_clears(site: Site, browser, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    db = site.ctx.db
    if not accounts.admin_exists(db):
        accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(db, "guard", PASSWORD, Role.operator, created_by="test")
    camera = site.ctx.config.cameras[0].name
    alarms = HealthAlarms(db, site.ctx.data_dir)
    ok, street = cv2.VideoCapture(str(site.footage.video)).read()
    assert ok
    alarms.save_reference(camera, encode_jpeg(street), time.time() - 600)

    page = login(site, browser, "guard")
    page.goto(f"{site.url}/cameras/{camera}", wait_until="domcontentloaded")
    page.wait_for_timeout(500)  # the event stream is open
    assert page.is_hidden("#health-banner")

    now = time.time()
    moved = HealthChange(camera, HealthCondition.moved, True, now - 120, {"moved_share": 0.97})
    event = alarms.apply(moved, snapshot_jpeg=encode_jpeg(np.roll(street, 77, axis=1)))
    assert event is not None and event.end is None
    page.wait_for_selector("#health-banner:not([hidden])", timeout=10000)
    text = page.inner_text("#health-banner")
    assert "camera moved or turned" in text
    before = page.get_attribute("#health-banner a:text('before')", "href")
    after = page.get_attribute("#health-banner a:text('after')", "href")
    for url in (before, after):
        got = page.evaluate("async (u) => (await fetch(u)).headers.get('content-type')", url)
        assert got == "image/jpeg"
    page.screenshot(path=str(artifacts / "web" / "health-banner.png"))

    alarms.apply(HealthChange(camera, HealthCondition.moved, False, time.time()))
    page.wait_for_selector("#health-banner", state="hidden", timeout=10000)

    page.goto(site.url + "/", wait_until="domcontentloaded")
    row = page.wait_for_selector(f"#health-summary tr[data-camera='{camera}']")
    assert row is not None and "ok" in row.inner_text()
