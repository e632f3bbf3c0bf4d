"""Zones page (masks and zones over a live snapshot, drawing, machine time line), the live
events list, motion and events on the camera time line, watchlists; in headless Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.web.conftest import Site
from vigil.api import accounts
from vigil.config import ZoneConfig
from vigil.events.store import create_event
from vigil.store.models.camera import MotionEvent
from vigil.store.models.users import Role

PASSWORD = "the admin's own password"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def shots(artifacts: Path) -> Path:
    d = artifacts / "web"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="module")
def page(site: Site, browser):  # type: ignore[no-untyped-def]
    ctx = site.ctx
    if not accounts.admin_exists(ctx.db):
        accounts.create_user(ctx.db, "admin", PASSWORD, Role.admin, created_by="test")
    cam = ctx.config.cameras[0]
    ctx.config.cameras[0] = cam.model_copy(
        update={
            "zones": [
                ZoneConfig(
                    name="press 1", kind="machine", polygon=[(0.55, 0.2), (0.9, 0.2), (0.9, 0.6)]
                ),
                ZoneConfig(
                    name="door",
                    kind="doorway",
                    polygon=[(0.1, 0.5), (0.3, 0.5), (0.3, 0.95), (0.1, 0.95)],
                ),
            ],
            "privacy_masks": [[(0.0, 0.0), (0.25, 0.0), (0.25, 0.2), (0.0, 0.2)]],
        }
    )
    bctx = browser.new_context(viewport={"width": 1280, "height": 900})
    p = bctx.new_page()
    p.set_default_timeout(15000)
    p.goto(site.url + "/login", wait_until="domcontentloaded")
    p.fill("input[name=username]", "admin")
    p.fill("input[name=password]", PASSWORD)
    p.click("button[type=submit]")
    p.wait_for_url(site.url + "/")
    yield p
    bctx.close()


def test_zones_page_draws_and_shows_machine_line(site: Site, page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    day = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    for i, state in enumerate(("running", "idle", "running", "idle")):
        a = day + timedelta(hours=6 + 3 * i)
        create_event(
            site.ctx.db,
            camera="lobby",
            kind="zone_change",
            start=a,
            end=a + timedelta(hours=3),
            zone="press 1",
            details={"zone_kind": "machine", "state": state},
        )
    page.goto(site.url + "/cameras/lobby/zones", wait_until="domcontentloaded")
    page.wait_for_selector('#zone-overlay polygon[data-zone="press 1"]')
    assert page.locator("#zone-overlay polygon.z-mask").count() == 1
    assert page.locator("#zone-overlay polygon.z-doorway").count() == 1
    page.wait_for_selector("#zone-frame.has-live")  # live snapshot under the overlay
    page.wait_for_selector('svg.machine-line[data-zone="press 1"] rect.m-running')
    assert page.locator("svg.machine-line rect").count() == 4
    assert "running 360 min" in page.inner_text("#machines")
    # The overlay covers exactly the picture (no letterbox), so fractions are of the picture.
    box = page.locator("#zone-overlay").bounding_box()
    pic = page.locator("#zone-snap").evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert box is not None
    assert box["width"] / box["height"] == pytest.approx(pic[0] / pic[1], rel=0.02)
    # Draw a zone by clicking three corners.
    for fx, fy in ((0.3, 0.3), (0.5, 0.3), (0.4, 0.6)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.fill("#draw-form input[name=name]", "lathe")
    assert page.inner_text("#draw-count") == "3 point(s)"
    assert page.locator("#zone-overlay polygon.z-draft").count() == 1
    page.screenshot(path=str(shots / "20-zones.png"), full_page=True)


def test_zones_page_saves_a_mask_that_persists(site: Site, page, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    """Draw a privacy mask, save it (an API error shows inline), reload: it is still there, in
    vigil.yaml with the operator's comments, and the running config uses it."""
    path = site.ctx.config_path
    assert path is not None
    url = site.url + "/cameras/lobby/zones"

    def open_page() -> dict[str, float]:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector('#zone-overlay polygon[data-zone="press 1"]')
        page.wait_for_selector("#zone-frame.has-live")
        box = page.locator("#zone-overlay").bounding_box()
        assert box is not None
        return box

    def draw_mask(box: dict[str, float]) -> None:
        page.select_option("#draw-form select[name=what]", "privacy_mask")
        assert page.locator("#draw-form .for-zone").is_hidden()
        for fx, fy in ((0.6, 0.6), (0.9, 0.6), (0.9, 0.9), (0.6, 0.9)):
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.click("#draw-add")
        assert page.locator("#zone-overlay polygon.z-mask").count() == 2
        assert page.inner_text("#layout-dirty") == "unsaved changes"

    draw_mask(open_page())
    # Someone edits vigil.yaml meanwhile: the save is refused, and the page says why.
    path.write_text(path.read_text() + "# edited by hand\n")
    page.click("#layout-save")
    page.wait_for_selector("#layout-msg.bad")
    assert "changed on disk" in page.inner_text("#layout-msg")
    assert "privacy_masks" not in path.read_text()

    draw_mask(open_page())  # reloaded: the current version of the file
    page.click("#layout-save")
    page.wait_for_selector('#layout-msg.ok:has-text("saved to vigil.yaml")')
    assert page.inner_text("#layout-dirty") == ""
    open_page()
    assert page.locator("#zone-overlay polygon.z-mask").count() == 2
    assert page.locator("#zone-overlay polygon.z-doorway").count() == 1
    page.screenshot(path=str(shots / "24-zones-saved.png"), full_page=True)

    text = path.read_text()
    assert "# edited by hand" in text and "# the entrance" in text
    lobby = yaml.safe_load(text)["cameras"][0]
    assert len(lobby["privacy_masks"]) == 2 and [z["name"] for z in lobby["zones"]] == [
        "press 1",
        "door",
    ]
    assert lobby["privacy_masks"][1][2] == pytest.approx([0.9, 0.9], abs=0.01)
    assert len(site.ctx.config.cameras[0].privacy_masks) == 2

    # A viewer sees the same layout, read-only.
    if all(a.username != "watcher" for a in accounts.list_users(site.ctx.db)):
        accounts.create_user(site.ctx.db, "watcher", PASSWORD, Role.viewer, created_by="test")
    vctx = browser.new_context(viewport={"width": 1280, "height": 900})
    v = vctx.new_page()
    v.set_default_timeout(15000)
    v.goto(site.url + "/login", wait_until="domcontentloaded")
    v.fill("input[name=username]", "watcher")
    v.fill("input[name=password]", PASSWORD)
    v.click("button[type=submit]")
    v.wait_for_url(site.url + "/")
    v.goto(url, wait_until="domcontentloaded")
    v.wait_for_selector('#zone-overlay polygon[data-zone="door"]')
    assert v.locator("#zone-overlay polygon.z-mask").count() == 2
    assert v.locator("#draw-form").count() == 0 and v.locator("#zone-list button").count() == 0
    vctx.close()


def test_live_events_list_and_camera_timeline(site: Site, page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.url + "/events", wait_until="domcontentloaded")
    page.wait_for_selector("#events-live.on")
    e = create_event(site.ctx.db, camera="lobby", kind="person", start=datetime.now(UTC))
    page.wait_for_selector(f'#events-list li[data-uid="{e.uid}"]', timeout=5000)
    assert page.locator("#events-list li").first.get_attribute("data-uid") == e.uid
    page.screenshot(path=str(shots / "21-events-live.png"))

    t = datetime.now(UTC) - timedelta(hours=2)
    with site.ctx.db.session() as s:
        s.add(MotionEvent(camera="lobby", start=t, end=t + timedelta(minutes=20), peak_area=0.2))
    page.goto(site.url + "/cameras/lobby", wait_until="domcontentloaded")
    page.wait_for_selector("rect.tl-motion")
    page.wait_for_selector('rect.tl-event[data-kind="person"]')
    page.screenshot(path=str(shots / "22-camera-activity.png"))


def test_watchlists_on_people_page(site: Site, page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.url + "/people", wait_until="domcontentloaded")
    page.wait_for_selector("#watchlists p")  # loaded: "no watchlists"
    page.fill("#watchlist-form input[name=name]", "staff")
    page.select_option("#watchlist-form select[name=action]", "ignore")
    page.click("#watchlist-form button[type=submit]")
    card = page.wait_for_selector('.watchlist[data-watchlist="staff"]')
    assert card.eval_on_selector("select", "s => s.value") == "ignore"
    page.screenshot(path=str(shots / "23-watchlists.png"), full_page=True)
