"""The camera page's time line in headless Chromium (issue 17): zooming changes the visible
range, hovering shows a thumbnail that loaded, playback goes on across a segment boundary,
keys and speed work, and a range selected on the time line becomes an export job."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.web.conftest import Site
from vigil.api import accounts
from vigil.events.store import create_event
from vigil.store.models.users import Role

PASSWORD = "an operator's own password"
pytestmark = pytest.mark.timeout(120)

VIEW = """() => { const s = document.querySelector('#timeline'), b = s.getBoundingClientRect();
  return {left: b.left, width: b.width, top: b.top, height: b.height,
          a: Date.parse(s.dataset.start), z: Date.parse(s.dataset.end)}; }"""


@pytest.fixture(scope="module")
def page(site: Site, browser, artifacts: Path):  # type: ignore[no-untyped-def]
    db = site.ctx.db
    if not accounts.admin_exists(db):  # else the login page offers first-run set-up
        accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(db, "op", PASSWORD, Role.operator, created_by="test")
    (artifacts / "web").mkdir(exist_ok=True)
    bctx = browser.new_context(viewport={"width": 1280, "height": 900})
    p = bctx.new_page()
    p.set_default_timeout(20000)
    p.goto(site.url + "/login", wait_until="domcontentloaded")
    p.fill("input[name=username]", "op")
    p.fill("input[name=password]", PASSWORD)
    p.click("button[type=submit]")
    p.wait_for_url(site.url + "/")
    yield p
    p.screenshot(path=str(artifacts / "web" / "timeline.png"), full_page=True)
    bctx.close()


def span_s(page) -> float:  # type: ignore[no-untyped-def]
    v = page.evaluate(VIEW)
    return (v["z"] - v["a"]) / 1000


def at(page, t: datetime) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Where on the screen the time line shows the instant `t`."""
    v = page.evaluate(VIEW)
    frac = (t.timestamp() * 1000 - v["a"]) / (v["z"] - v["a"])
    assert 0 < frac < 1, "the instant is off the visible range"
    return v["left"] + frac * v["width"], v["top"] + v["height"] / 2


def test_zoom_thumbnails_and_playback_across_segments(site: Site, page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    start = site.footage.start
    event = start + timedelta(seconds=1)
    create_event(site.ctx.db, camera="lobby", kind="person", start=event, end=event)
    page.goto(f"{site.url}/cameras/lobby#t={(start + timedelta(seconds=0.5)).isoformat()}")
    page.wait_for_selector("rect.tl-span")
    page.wait_for_selector('rect.tl-event[data-kind="person"]')
    page.wait_for_selector("rect.tl-review.tl-detection")  # the event's review item
    assert span_s(page) == pytest.approx(1800, abs=1)  # half an hour around the linked time
    for _ in range(7):
        page.click("#tl-zoom-in")
    assert span_s(page) == pytest.approx(1800 / 2**7, abs=0.5)
    page.mouse.move(*at(page, start + timedelta(seconds=2)))
    page.mouse.wheel(0, 200)  # the wheel zooms out around the pointer
    page.wait_for_function("document.querySelector('#timeline').dataset.start")
    assert span_s(page) == pytest.approx(1800 / 2**7 * 1.5, abs=0.5)

    # Hovering recorded footage shows its thumbnail (a 160 px JPEG the server made).
    page.mouse.move(*at(page, start + timedelta(seconds=3)))
    page.wait_for_function(
        "(() => { const i = document.querySelector('#tl-thumb img');"
        " return !i.closest('#tl-thumb').hidden && i.complete && i.naturalWidth === 160; })()"
    )
    assert "/thumbnail?t=" in page.get_attribute("#tl-thumb img", "src")
    page.screenshot(path=str(artifacts / "web" / "timeline-scrub.png"))

    # Played from the linked instant, it goes on into the next segment when the first ends.
    first = page.eval_on_selector("#player", "v => v.dataset.segment")
    page.wait_for_function(
        f"(() => {{ const v = document.querySelector('#player');"
        f" return v.dataset.segment !== '{first}' && v.currentTime > 0.2 && !v.paused; }})()",
        timeout=30000,
    )
    wall = datetime.fromisoformat(page.eval_on_selector("#player", "v => v.dataset.wallTime"))
    assert wall > start + timedelta(seconds=1.5)
    page.select_option("#speed", "2")
    assert page.eval_on_selector("#player", "v => v.playbackRate") == 2
    page.keyboard.press(" ")
    assert page.eval_on_selector("#player", "v => v.paused")
    was = page.eval_on_selector("#player", "v => v.currentTime")
    page.keyboard.press(".")  # a frame on
    assert 0 < page.eval_on_selector("#player", "v => v.currentTime") - was < 0.2
    page.keyboard.press("[")  # back to the event, and play from there
    back_at = event.timestamp() * 1000
    page.wait_for_function(
        f"(() => {{ const v = document.querySelector('#player');"
        f" return !v.paused && Math.abs(Date.parse(v.dataset.wallTime) - {back_at}) < 800; }})()"
    )


def test_export_from_a_selection(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    start = site.footage.start
    a, y = at(page, start + timedelta(seconds=1))
    b, _ = at(page, start + timedelta(seconds=3))
    page.keyboard.down("Shift")
    page.mouse.move(a, y)
    page.mouse.down()
    page.mouse.move(b, y, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    assert page.is_visible("rect.tl-sel")
    assert page.evaluate("() => document.activeElement.name") == "reason"  # the prompt
    page.keyboard.type("incident 17: gate left open")
    page.click("#export-form button[type=submit]")
    link = page.wait_for_selector("#export-form a.export-download:not([hidden])", timeout=60000)
    job_url = link.get_attribute("href").removesuffix("/download")
    job = page.evaluate(f"async () => (await fetch('{job_url}')).json()")
    assert job["state"] == "done" and job["redacted"] is True
    clip = datetime.fromisoformat(job["clip_start"]), datetime.fromisoformat(job["clip_end"])
    assert start - timedelta(seconds=1) <= clip[0] <= start + timedelta(seconds=1.5)
    assert start + timedelta(seconds=2.5) <= clip[1] <= start + timedelta(seconds=5)
