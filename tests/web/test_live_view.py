"""Live H.264 in real headless Chromium (MSE): the camera page plays at the stream's frame
rate, and the grid shows four cameras, saves its layout and restores it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.camera.conftest import make_h264
from tests.web.conftest import serve
from vigil.api import ApiContext, accounts, create_app
from vigil.config import VigilConfig
from vigil.store.db import Database
from vigil.store.models.users import Role

PASSWORD = "an operator's own password"
FPS = 10
CAMERAS = ["gate", "hall", "yard", "dock"]
pytestmark = pytest.mark.timeout(120)

# Frames presented and media time played in `ms`, and the lag behind the newest frame.
PRESENTED = """([sel, ms]) => new Promise((done) => {
  const v = document.querySelector(sel), t0 = v.currentTime, q0 = v.getVideoPlaybackQuality();
  let shown = 0, seeks = 0;
  const count = () => { shown++; v.requestVideoFrameCallback(count); };
  v.requestVideoFrameCallback(count);
  v.addEventListener("seeking", () => seeks++);
  setTimeout(() => { const q = v.getVideoPlaybackQuality();
    done({shown, played: v.currentTime - t0, seeks,
          decoded: q.totalVideoFrames - q0.totalVideoFrames,
          lag: v.buffered.end(v.buffered.length - 1) - v.currentTime}); }, ms);
})"""


@pytest.fixture(scope="module")
def live_site(
    testdata: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ApiContext]]:
    root = tmp_path_factory.mktemp("live")
    video = make_h264(testdata / "video" / "vtest.avi", root / "cam.mp4", 4, fps=FPS, gop=FPS)
    cfg = VigilConfig.model_validate(
        {
            "site": {"name": "live test"},
            "storage": {"data_dir": str(root / "var")},
            "cameras": [{"name": n, "url": str(video), "loop": True} for n in CAMERAS],
        }
    )
    db = Database(cfg.storage.resolved_database_url())
    accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(db, "op", PASSWORD, Role.operator, created_by="test")
    accounts.create_user(db, "guard", PASSWORD, Role.viewer, created_by="test")
    ctx = ApiContext(cfg, db)
    with serve(create_app(ctx)) as url:
        yield url, ctx
        ctx.live.close()
        ctx.feeds.close()
    db.close()


def logged_in(browser, url: str, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(20000)
    p.goto(url + "/login", wait_until="domcontentloaded")
    p.fill("input[name=username]", username)
    p.fill("input[name=password]", PASSWORD)
    p.click("button[type=submit]")
    p.wait_for_url(url + "/")
    return context, p


@pytest.fixture(scope="module")
def page(live_site: tuple[str, ApiContext], browser):  # type: ignore[no-untyped-def]
    context, p = logged_in(browser, live_site[0], "op")
    yield p
    context.close()


def test_camera_page_plays_h264_at_the_stream_rate(page, live_site) -> None:  # type: ignore[no-untyped-def]
    url, _ = live_site
    page.goto(url + "/cameras/gate", wait_until="domcontentloaded")
    page.wait_for_selector("#live-mode:has-text('H.264')")
    assert page.is_hidden("#live") and page.is_visible("#live-video")
    seen = page.evaluate(PRESENTED, ["#live-video", 2000])
    # About FPS frames a second are shown (not the 5 fps of the analysed MJPEG frames).
    assert 1.5 * FPS <= seen["shown"] <= 2.5 * FPS, seen
    assert 1.5 <= seen["played"] <= 2.5, seen
    assert seen["lag"] < 1.0, seen  # near the newest frame


def test_grid_shows_four_cameras_and_restores_a_saved_layout(page, live_site, artifacts) -> None:  # type: ignore[no-untyped-def]
    url, ctx = live_site
    page.goto(url + "/live", wait_until="domcontentloaded")
    assert page.input_value("#grid-size") == "4"
    page.wait_for_function(
        "document.querySelectorAll('.live-tile.has-live video').length === 4"
        " && [...document.querySelectorAll('.live-tile video')]"
        ".every((v) => v.getVideoPlaybackQuality().totalVideoFrames > 3)"
    )
    shown = page.eval_on_selector_all(".live-tile", "ts => ts.map((t) => t.dataset.camera)")
    assert shown == CAMERAS
    # Swap two tiles and save the layout; it comes back after a reload.
    page.select_option(".tile:nth-child(1) select", "dock")
    page.select_option(".tile:nth-child(4) select", "gate")
    page.fill("#layout-form input[name=name]", "entrances")
    page.click("#layout-form button[type=submit]")
    page.wait_for_selector("#layout-form .msg.ok")
    page.reload(wait_until="domcontentloaded")
    page.wait_for_function(
        "document.querySelector('#layout').selectedOptions[0]?.text === 'entrances'"
    )
    page.wait_for_function("document.querySelectorAll('.live-tile.has-live video').length === 4")
    shown = page.eval_on_selector_all(".live-tile", "ts => ts.map((t) => t.dataset.camera)")
    assert shown == ["dock", "hall", "yard", "gate"]
    assert ctx.feeds.readers_started == len(CAMERAS)  # reloads and swaps reuse each reader
    (artifacts / "web").mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "web" / "live-grid.png"))
    # Double-click: that camera full screen.
    page.dblclick(".live-tile[data-camera=hall]")
    page.wait_for_function("document.fullscreenElement?.dataset.camera === 'hall'")


def test_a_role_that_sees_people_pixelated_gets_processed_frames(live_site, browser) -> None:  # type: ignore[no-untyped-def]
    url, _ = live_site
    context, p = logged_in(browser, url, "guard")  # viewers see people pixelated by default
    try:
        p.goto(url + "/live", wait_until="domcontentloaded")
        p.wait_for_function("document.querySelectorAll('.live-tile img').length === 4")
        assert p.eval_on_selector_all(".live-tile video", "vs => vs.length") == 0
        srcs = p.eval_on_selector_all(".live-tile img", "is => is.map((i) => i.src)")
        assert all("/live.mjpeg" in s for s in srcs), srcs
        p.goto(url + "/cameras/gate", wait_until="domcontentloaded")
        p.wait_for_selector("#live-mode:has-text('pixelated for the viewer role')")
        assert p.is_hidden("#live-video")
    finally:
        context.close()
