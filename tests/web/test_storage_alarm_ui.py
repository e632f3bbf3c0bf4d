"""The storage alarm in the web UI and the API: a retention pass that could not make room
shows a banner on the cameras page saying who uses the disk, and the banner clears without a
reload once a pass finds the limits met."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.web.conftest import Site
from tests.web.test_privacy_view_ui import PASSWORD, login
from vigil.api import accounts
from vigil.camera.footage_retention import RetentionReport, SpaceUse, save_report
from vigil.store.models.users import Role

pytestmark = pytest.mark.timeout(120)

MB = 1_000_000
POLL_MS = 300  # the page's storage poll, 10 s in use


def _pass(data_dir: Path, alarm: str, other_bytes: int) -> None:
    """What a retention pass leaves behind: its report, with who uses the disk."""
    space = SpaceUse(
        total_bytes=300 * MB,
        free_bytes=40 * MB,
        used_bytes=260 * MB,
        reserved_bytes=0,
        footage_bytes=26 * MB,
        vigil_other_bytes=4 * MB,
        vigil_other={"database": 4 * MB},
        other_bytes=other_bytes,
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    save_report(data_dir, RetentionReport(ran_at=now, alarm=alarm, space=space.as_dict()))


def test_banner_names_who_uses_the_disk_and_clears(site: Site, browser, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    db = site.ctx.db
    if not accounts.admin_exists(db):  # else the login page offers first-run set-up
        accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(db, "night-guard", PASSWORD, Role.viewer, created_by="test")
    data_dir = site.ctx.data_dir
    _pass(data_dir, "", 0)

    page = login(site, browser, "night-guard")
    # The page asks /api/v1/storage every 10 s; here every 0.3 s (from the next load on).
    page.add_init_script(f"window.vigilStoragePollMs = {POLL_MS}")
    page.reload(wait_until="domcontentloaded")
    assert page.evaluate("window.vigilStoragePollMs") == POLL_MS
    assert page.is_hidden("#storage-alarm")

    alarm = (
        "recording paused: free space below 100.0 MB and deleting footage cannot restore it; "
        "disk use: other files (not Vigil's) 230.0 MB (230000000 bytes)"
    )
    _pass(data_dir, alarm, 230 * MB)
    got = page.evaluate("async () => (await fetch('/api/v1/storage')).json()")
    assert got["alarm"] and got["recording_paused"]
    assert "other files (not Vigil's) 230.0 MB" in got["reason"]
    assert got["other_bytes"] == 230 * MB and got["footage_bytes"] == 26 * MB

    # The open page picks the alarm up by itself (it asks /api/v1/storage every POLL_MS) ...
    page.wait_for_selector("#storage-alarm:not([hidden])", timeout=25000)
    assert "other files (not Vigil's) 230.0 MB" in page.inner_text("#storage-alarm")
    page.screenshot(path=str(artifacts / "web" / "storage-alarm.png"))
    # ... and a page loaded now shows it at once.
    page.reload(wait_until="domcontentloaded")
    assert page.is_visible("#storage-alarm")

    _pass(data_dir, "", 0)  # space is back: the next pass met every limit
    page.wait_for_selector("#storage-alarm", state="hidden", timeout=25000)
    assert page.evaluate("async () => (await fetch('/api/v1/storage')).json()")["alarm"] is False
