"""The review page: an operator filters to unreviewed alerts, marks one reviewed, and it
leaves the list; the item's events link opens the events page for that camera and span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.web.conftest import Site
from tests.web.test_privacy_view_ui import PASSWORD, login
from vigil.api import accounts
from vigil.events.store import Routing, create_event
from vigil.store.models.users import Role

pytestmark = pytest.mark.timeout(120)


def test_mark_an_item_reviewed(site: Site, browser, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    db = site.ctx.db
    if not accounts.admin_exists(db):  # else the login page offers first-run set-up
        accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(db, "reviewer", PASSWORD, Role.operator, created_by="test")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for minute, kind, details in [
        (0, "person", {}),
        (10, "zone_change", {"zone_kind": "restricted"}),
    ]:
        at = t0 + timedelta(minutes=minute)
        create_event(
            db,
            camera="lobby",
            kind=kind,
            start=at,
            end=at + timedelta(seconds=4),
            details=details,
            routing=Routing(),
        )

    page = login(site, browser, "reviewer")
    page.click("nav a[href='/review']")
    page.wait_for_selector("#review-list li.review-item")
    assert page.locator("#review-list li.review-item").count() == 2
    page.select_option("select[name=severity]", "alert")
    page.click("#review-filter button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#review-list li.review-item').length === 1")
    item = page.locator("#review-list li.review-item")
    assert "alert" in item.inner_text() and "1 zone change" in item.inner_text()
    page.screenshot(path=str(artifacts / "web" / "review.png"))
    item.locator("button.mark").click()
    page.wait_for_selector("#review-list li.review-item", state="detached")  # unreviewed only
    got = page.evaluate("async () => (await fetch('/api/v1/review?reviewed=true')).json()")
    assert [i["severity"] for i in got["items"]] == ["alert"]

    page.select_option("select[name=severity]", "")
    page.uncheck("input[name=unreviewed]")
    page.click("#review-filter button[type=submit]")
    page.wait_for_selector("#review-list li.reviewed")
    page.locator("#review-list li.reviewed a", has_text="events").click()
    page.wait_for_selector("#events-span")
    page.wait_for_selector("#events-list li.event")
    assert page.locator("#events-list li.event").count() == 1  # that item's one event
