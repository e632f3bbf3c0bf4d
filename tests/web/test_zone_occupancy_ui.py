"""Zones page: people per zone for the day as a step line, with "now" and "max"; in Chromium."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from tests.web.conftest import Site
from vigil.api import accounts
from vigil.config import ZoneConfig
from vigil.pipeline.occupancy import OccupancyRecorder
from vigil.store.models.users import Role

PASSWORD = "the admin's own password"
pytestmark = pytest.mark.timeout(120)


def test_zones_page_draws_occupancy_now_and_max(site: Site, browser, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    ctx = site.ctx
    if not accounts.admin_exists(ctx.db):
        accounts.create_user(ctx.db, "admin", PASSWORD, Role.admin, created_by="test")
    cam = ctx.config.cameras[0]
    door = ZoneConfig(name="door", kind="doorway", polygon=[(0.1, 0.5), (0.3, 0.5), (0.3, 0.9)])
    ctx.config.cameras[0] = cam.model_copy(update={"zones": [door]})
    now = time.time()
    first = math.floor(now / 60) * 60 - 120  # three minutes: 1, then 5, then 2 people
    rec = OccupancyRecorder("lobby", ctx.db)
    for t in range(int(first), int(now)):
        rec.update(t, {"door": 1 if t < first + 60 else 5 if t < first + 120 else 2})
    rec.update(now, {"door": 2})
    rec.update(now + 0.5, {"door": 2})
    bctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        p = bctx.new_page()
        p.set_default_timeout(15000)
        p.goto(site.url + "/login", wait_until="domcontentloaded")
        p.fill("input[name=username]", "admin")
        p.fill("input[name=password]", PASSWORD)
        p.click("button[type=submit]")
        p.wait_for_url(site.url + "/")
        p.goto(site.url + "/cameras/lobby/zones", wait_until="domcontentloaded")
        p.wait_for_selector('#occupancy svg.occupancy-line[data-zone="door"] path')
        text = p.inner_text("#occupancy")
        assert p.inner_text("#occupancy .occ-now") == "2", text
        assert p.inner_text("#occupancy .occ-max") == "5", text
        d = p.get_attribute('#occupancy svg[data-zone="door"] path', "d") or ""
        assert d.startswith("M") and d.count("L") >= 5  # three steps joined into one line
        shots = artifacts / "web"
        shots.mkdir(exist_ok=True)
        p.screenshot(path=str(shots / "21-zone-occupancy.png"), full_page=True)
    finally:
        bctx.close()
