"""The installable app in real Chromium: the manifest and service worker register, a user
enables notifications on the notifications page, an alert is pushed (encrypted) to a local push
service, and the service worker shows it with the event's page to open.

Headless Chromium cannot reach a real push service, so one piece is stood in for: the page's
`pushManager.subscribe` answers with a subscription whose endpoint is the test's local push
service and whose keys the test holds (as the browser's push service would hand out). The
decrypted message is then handed to the real service worker through DevTools
(`ServiceWorker.deliverPushMessage`), as the browser does when a push arrives."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.notify.push_service import Device, PushService
from tests.web.conftest import Site
from tests.web.test_privacy_view_ui import PASSWORD, login
from vigil.api import accounts
from vigil.api.identity import push_audience
from vigil.events.store import Routing, create_event
from vigil.notify.dispatcher import Dispatcher
from vigil.notify.vapid import b64url
from vigil.store.models.users import Role

pytestmark = pytest.mark.timeout(120)

STAND_IN = """([endpoint, p256dh, auth]) => {
  const b = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "==="
    .slice((s.length + 3) % 4)), (c) => c.charCodeAt(0)).buffer;
  let current = null;
  PushManager.prototype.getSubscription = async () => current;
  PushManager.prototype.subscribe = async (options) => {
    current = { endpoint, options, toJSON: () => ({ endpoint, keys: { p256dh, auth } }),
      unsubscribe: async () => { current = null; return true; },
      getKey: (n) => b(n === "auth" ? auth : p256dh) };
    return current;
  };
}"""
SHOWN = """async () => (await (await navigator.serviceWorker.ready).getNotifications())
  .map((n) => ({ title: n.title, body: n.body, url: n.data.url }))"""


def test_install_enable_and_show_a_push(site: Site, browser, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    db = site.ctx.db
    if not accounts.admin_exists(db):  # else the login page offers first-run set-up
        accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(db, "phone", PASSWORD, Role.viewer, created_by="test")
    page = login(site, browser, "phone")
    page.context.grant_permissions(["notifications"], origin=site.url)

    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == site.url + "/"
    manifest = page.evaluate(
        "async () => (await fetch(document.querySelector('link[rel=manifest]').href)).json()"
    )
    assert manifest["display"] == "standalone" and len(manifest["icons"]) == 4

    service, device = PushService(), Device.new()
    endpoint = f"{service.base}/push/phone"
    try:
        args = json.dumps([endpoint, device.p256dh, b64url(device.auth)])
        page.context.add_init_script(f"({STAND_IN})({args})")  # every page from now on
        page.click("#notifications-link")
        page.wait_for_selector("#push-devices li")
        page.check("input[name=reviews]")
        page.click("#push-enable")
        page.wait_for_selector("#push-msg.ok")
        page.wait_for_selector("#push-devices li.push-device")
        assert "this device" in page.inner_text("#push-devices")
        assert page.is_visible("#push-disable")
        page.screenshot(path=str(artifacts / "web" / "notifications.png"))
        stored = page.evaluate("async () => (await fetch('/api/v1/push/subscriptions')).json()")
        assert [(s["endpoint"], s["alerts"], s["reviews"]) for s in stored] == [
            (endpoint, True, True)
        ]

        d = Dispatcher(db, site.ctx.config, poll_s=0.05, audience=push_audience())
        d.start()
        try:
            event = create_event(
                db,
                camera="lobby",
                kind="zone_change",
                start=site.footage.start,
                zone="vault",
                details={"zone_kind": "restricted"},
                routing=Routing.from_config(site.ctx.config),
                wake=d.wake,
            )
            got = service.wait_for(2)  # the alert, and the new review item
        finally:
            d.stop()
        messages = {m["kind"]: m for m in (device.decrypt(r["body"]) for r in got)}
        alert = messages["event"]
        assert (alert["title"], alert["url"]) == ("Alert · lobby", f"/events/{event.uid}")

        cdp = page.context.new_cdp_session(page)
        registrations: list[str] = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda e: registrations.extend(r["registrationId"] for r in e["registrations"]),
        )
        cdp.send("ServiceWorker.enable")
        deadline = time.monotonic() + 10
        while not registrations and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": site.url, "registrationId": registrations[0], "data": json.dumps(alert)},
        )
        shown: list[dict] = []
        deadline = time.monotonic() + 10
        while not shown and time.monotonic() < deadline:
            page.wait_for_timeout(50)
            shown = page.evaluate(SHOWN)
        assert shown == [{"title": "Alert · lobby", "body": alert["body"], "url": alert["url"]}]

        page.goto(site.url + alert["url"])  # where a tap on it leads
        page.wait_for_selector("#event-one li.event")
        assert "zone change" in page.inner_text("#event-one")

        page.goto(site.url + "/notifications")
        page.wait_for_selector("#push-devices li.push-device")
        page.locator("#push-devices li.push-device button.danger").click()
        page.wait_for_selector("#push-devices li.muted")  # "no device yet"
    finally:
        service.close()
        page.context.close()
