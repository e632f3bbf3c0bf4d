"""The web UI in real headless Chromium: set-up, live view, time line playback, export,
enrolment, search by photo; screenshots under test-artifacts/web/."""

from __future__ import annotations

import time
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import av
import pytest

from tests.web.conftest import Site
from vigil.privacy.bundle import verify_export

PASSWORD = "the admin's own password"
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def shots(artifacts: Path) -> Path:
    d = artifacts / "web"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="module")
def page(site: Site, browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()


def test_first_run_setup_and_live_view(site: Site, page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.url + "/", wait_until="domcontentloaded")
    assert page.url.endswith("/setup")  # no admin yet: set-up is offered
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.fill("input[name=code]", "not-the-code")
    page.click("button[type=submit]")
    page.wait_for_selector(".msg.bad")
    assert "wrong set-up code" in page.inner_text(".msg")
    code = (site.ctx.data_dir / "setup-code").read_text().strip()  # what `vigil serve` printed
    page.fill("input[name=code]", code)
    page.screenshot(path=str(shots / "01-setup.png"))
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/")
    # A live frame arrives in the camera grid (decoded once, by the feeder thread).
    page.wait_for_selector('.tile[data-camera="lobby"] .frame.has-live')
    width = page.eval_on_selector('.tile[data-camera="lobby"] img', "i => i.naturalWidth")
    assert width > 100
    page.screenshot(path=str(shots / "02-dashboard.png"))
    # After set-up, the set-up page is gone.
    page.goto(site.url + "/setup", wait_until="domcontentloaded")
    assert page.url.endswith("/login")


def test_login_page_and_logout(site: Site, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": 390, "height": 844})  # phone-sized
    p = ctx.new_page()
    p.goto(site.url + "/people", wait_until="domcontentloaded")
    assert "/login" in p.url
    p.fill("input[name=username]", "admin")
    p.fill("input[name=password]", "wrong password!")
    p.click("button[type=submit]")
    p.wait_for_selector(".msg.bad")
    assert "wrong user name or password" in p.inner_text(".msg")
    p.fill("input[name=password]", PASSWORD)
    p.click("button[type=submit]")
    p.wait_for_url(site.url + "/people")
    p.goto(site.url + "/", wait_until="domcontentloaded")
    p.wait_for_selector(".frame.has-live")
    p.screenshot(path=str(shots / "03-phone-dashboard.png"), full_page=True)
    p.click("#logout")
    p.wait_for_url("**/login")
    ctx.close()


def test_camera_timeline_playback_and_export(site: Site, page, shots: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Opened at an instant of the recording, as an event's "footage" link does: a click on a
    # 24 h time line cannot aim inside 5 s of footage (a pixel is 86 s).
    at = (site.footage.start + timedelta(seconds=0.3)).isoformat()
    page.goto(f"{site.url}/cameras/lobby#t={quote(at)}", wait_until="domcontentloaded")
    page.wait_for_selector("#live")
    page.wait_for_function(  # an MJPEG frame, or the H.264 that takes over from it
        "document.querySelector('#live').naturalWidth > 0"
        " || document.querySelector('#live-video').readyState >= 2"
    )
    page.wait_for_selector("rect.tl-span")
    # Recorded footage plays from the segment files (range requests to a <video>).
    try:
        page.wait_for_function(
            "(() => { const v = document.querySelector('#player');"
            " return v.readyState >= 2 && v.currentTime > 0.5 && v.videoWidth > 0; })()",
            timeout=20000,
        )
    except Exception:
        state = page.evaluate(
            "(() => { const v = document.querySelector('#player'); return {src: v.src,"
            " error: v.error && v.error.message, ready: v.readyState, net: v.networkState,"
            " t: v.currentTime, d: v.duration, info: document.querySelector('#playing')"
            ".textContent}; })()"
        )
        page.screenshot(path=str(shots / "04-camera-playback-failed.png"))
        raise AssertionError(f"recorded footage did not play: {state}") from None
    assert page.eval_on_selector("#player", "v => v.videoWidth") == 768
    wall = page.eval_on_selector("#player", "v => v.dataset.wallTime")
    assert wall and wall.startswith(str(site.footage.start.year))
    page.screenshot(path=str(shots / "04-camera-playback.png"))
    # Export a clip of the recorded span, with a reason: a job, then its download link.
    start = site.footage.start.astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    end = site.footage.end.astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("#export-form input[name=start]", start)
    page.fill("#export-form input[name=end]", end)
    page.fill("#export-form input[name=reason]", "incident 7: door forced")
    assert page.is_checked("#export-form input[name=redact]")  # redacted unless unticked
    page.click("#export-form button[type=submit]")  # starts a job: progress, then a link
    page.wait_for_selector("#export-form progress", state="visible")
    link = page.wait_for_selector("#export-form a.export-download:not([hidden])", timeout=60000)
    assert page.eval_on_selector("#export-form progress", "p => p.value") == 1
    with page.expect_download(timeout=30000) as dl:
        link.click()
    bundle = tmp_path / "export.zip"
    dl.value.save_as(str(bundle))
    with zipfile.ZipFile(bundle) as z:
        (clip_name,) = [n for n in z.namelist() if n.endswith("-redacted.mp4")]
        (tmp_path / "clip.mp4").write_bytes(z.read(clip_name))
    with av.open(str(tmp_path / "clip.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) >= 10
    assert all(c.ok for c in verify_export(bundle, data_dir=site.ctx.data_dir))
    page.wait_for_selector("#export-form .msg.ok")
    assert "exported" in page.inner_text("#export-form .msg")
    assert "redacted" in page.inner_text("#export-form .msg")
    page.screenshot(path=str(shots / "05-camera-exported.png"), full_page=True)


def test_enrol_and_search_by_photo(site: Site, page, shots: Path, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.url + "/people", wait_until="domcontentloaded")
    page.fill("#enrol-form input[name=name]", "Barack Obama")
    page.select_option("#enrol-form select[name=legal_basis]", "consent")
    page.fill("#enrol-form input[name=reason]", "staff access, consent form 12")  # audited
    page.set_input_files("#enrol-form input[name=photos]", str(faces_dir / "obama.jpg"))
    page.wait_for_selector("#quality li.ok")  # quality feedback before enrolling
    page.click("#enrol-form button[type=submit]")
    page.wait_for_selector("#enrol-form .msg.ok")
    page.wait_for_selector("#people-list td:has-text('Barack Obama')")
    page.screenshot(path=str(shots / "06-people.png"), full_page=True)
    # A photo without a face is refused with a reason people can act on.
    page.set_input_files("#enrol-form input[name=photos]", str(faces_dir / "32bit.png"))
    page.wait_for_selector("#quality li")
    page.goto(site.url + "/search", wait_until="domcontentloaded")
    page.set_input_files("#search-form input[name=photo]", str(faces_dir / "obama2.jpg"))
    page.fill("#search-form input[name=reason]", "visitor badge lost, case 12")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-result:not([hidden])")
    assert "Barack Obama" in page.inner_text("#match")
    page.screenshot(path=str(shots / "07-search.png"), full_page=True)
    # Everything the admin did is in the audit log page.
    page.goto(site.url + "/audit", wait_until="domcontentloaded")
    page.wait_for_selector("#audit-list tr")
    text = page.inner_text("#audit-list")
    for action in ("search face", "export", "enroll", "view live", "view recording"):
        assert action in text, action
    assert "chain intact" in page.inner_text("#audit-verify")
    assert "not witnessed: no witness configured" in page.inner_text("#audit-witness")
    page.screenshot(path=str(shots / "08-audit.png"), full_page=True)


def test_live_frame_age(site: Site) -> None:
    """Age of the newest live frame when a viewer fetches it (hub + HTTP on loopback)."""
    import httpx

    frame = site.ctx.live.latest("lobby")
    assert frame is not None
    ages = []
    for _ in range(10):
        f = site.ctx.live.latest("lobby")
        assert f is not None
        ages.append(time.time() - f.at)
        time.sleep(0.05)
    print(f"live frame age at fetch: max {max(ages) * 1000:.0f} ms")
    assert max(ages) < 1.0
    assert httpx.get(site.url + "/api/v1/cameras/lobby/snapshot.jpg").status_code == 401


def test_viewer_pages_show_events_without_identities(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: the events page and the dashboard work for a viewer, who sees a recognised
    person's event but not who it is; every recognised person needs a reason."""
    from tests.api.helpers import now
    from vigil.api import accounts
    from vigil.events.store import create_event
    from vigil.store.models.users import Role

    db = site.ctx.db
    [person] = [p for p in site.ctx.gallery().people() if p.name == "Barack Obama"]
    create_event(db, camera="lobby", kind="known_person", start=now(), person_id=person.id)
    accounts.create_user(db, "guard", "a guard's own password", Role.viewer, created_by="test")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    p = ctx.new_page()
    p.set_default_timeout(15000)
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(site.url + "/login", wait_until="domcontentloaded")
    p.fill("input[name=username]", "guard")
    p.fill("input[name=password]", "a guard's own password")
    p.click("button[type=submit]")
    p.wait_for_url(site.url + "/")
    p.wait_for_selector("#latest-events li.event")
    assert "known person" in p.inner_text("#latest-events")
    p.goto(site.url + "/events", wait_until="domcontentloaded")
    p.wait_for_selector("#events-list li.event")
    assert "known person" in p.inner_text("#events-list")
    assert "Obama" not in p.content()
    p.select_option("#events-filter select[name=kind]", "known_person")
    p.click("#events-filter button[type=submit]")
    p.wait_for_selector("#events-list li:has-text('reason')")
    p.fill("#events-filter input[name=reason]", "incident 21: gate")
    p.click("#events-filter button[type=submit]")
    p.wait_for_selector("#events-list li.event")
    assert "Obama" not in p.inner_text("#events-list")
    assert not errors, errors
    ctx.close()


def test_objection_and_withdrawal_in_the_ui(site: Site, page, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Last in this module: it withdraws the person the tests above enrolled."""
    page.goto(site.url + "/people", wait_until="domcontentloaded")
    page.fill("#objection-form input[name=reason]", "objected at reception")
    page.fill("#objection-form input[name=reference]", "OBJ-3")
    page.set_input_files("#objection-form input[name=photo]", str(faces_dir / "obama3.jpg"))
    page.click("#objection-form button[type=submit]")
    page.wait_for_selector("#objection-form .msg:has-text('objection recorded')")
    assert "withheld: Barack Obama" in page.inner_text("#objection-form .msg")
    page.wait_for_selector("#objection-list td:has-text('OBJ-3')")
    page.goto(site.url + "/search", wait_until="domcontentloaded")
    page.set_input_files("#search-form input[name=photo]", str(faces_dir / "obama2.jpg"))
    page.fill("#search-form input[name=reason]", "visitor badge lost, case 13")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-result:not([hidden])")
    assert "Not identified: an objection" in page.inner_text("#match")
    page.goto(site.url + "/people", wait_until="domcontentloaded")
    page.once("dialog", lambda d: d.accept("withdrew by email"))
    page.click("#people-list tr:has-text('Barack Obama') button:has-text('Consent withdrawn')")
    page.wait_for_selector("#people-list td:has-text('nobody is enrolled')")
    assert not site.ctx.gallery().people()
