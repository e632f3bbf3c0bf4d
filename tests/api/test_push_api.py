"""Web Push from the API and the pages: the site's key, devices per user, the PWA files."""

from __future__ import annotations

import io
import stat

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from tests.api.helpers import Client
from vigil.api import ApiContext, create_app
from vigil.notify.vapid import KEY_FILE, b64url


def device(endpoint: str = "https://push.example.net/send/abc") -> dict:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "endpoint": endpoint,
        "keys": {"p256dh": b64url(raw), "auth": b64url(b"0123456789abcdef")},
    }


def test_devices_per_user(ctx: ApiContext, clients: dict[str, Client]) -> None:
    viewer, operator, admin = clients["viewer"], clients["operator"], clients["admin"]
    key = viewer.get("/api/v1/push/key").json()
    assert key["enabled"] and len(key["public_key"]) == 87  # 65 bytes, base64url
    assert stat.S_IMODE((ctx.data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert admin.get("/api/v1/push/key").json() == key  # one key pair for the site

    body = {**device(), "reviews": True, "cameras": ["lobby"], "label": "Firefox on Android"}
    r = viewer.post("/api/v1/push/subscriptions", json=body)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["alerts"], sub["reviews"], sub["cameras"]) == (True, True, ["lobby"])
    again = viewer.post("/api/v1/push/subscriptions", json={**body, "reviews": False})
    assert again.json()["id"] == sub["id"] and again.json()["reviews"] is False  # same device

    assert [s["id"] for s in viewer.get("/api/v1/push/subscriptions").json()] == [sub["id"]]
    assert operator.get("/api/v1/push/subscriptions").json() == []
    assert len(admin.get("/api/v1/push/subscriptions?all=true").json()) == 1
    assert viewer.get("/api/v1/push/subscriptions?all=true").status_code == 403
    assert clients["auditor"].post("/api/v1/push/subscriptions", json=device()).status_code == 403

    bad_key = device()
    bad_key["keys"]["p256dh"] = b64url(b"\x04" + b"\x01" * 64)
    for wrong, why in [
        (bad_key, "P-256"),
        ({**device(), "cameras": ["attic"]}, "no camera attic"),
        (device("http://push.example.net/x"), "https"),
        ({**device(), "alerts": False}, "choose alerts"),
        ({**device(), "extra": 1}, "extra"),
    ]:
        r = viewer.post("/api/v1/push/subscriptions", json=wrong)
        assert r.status_code == 422 and why in r.text, r.text
    assert len(admin.get("/api/v1/push/subscriptions?all=true").json()) == 1  # none stored

    assert operator.delete(f"/api/v1/push/subscriptions/{sub['id']}").status_code == 404
    assert viewer.delete(f"/api/v1/push/subscriptions/{sub['id']}").status_code == 204
    assert viewer.get("/api/v1/push/subscriptions").json() == []


def test_pwa_files_and_pages(ctx: ApiContext) -> None:
    web = Client(create_app(ctx))
    m = web.get("/manifest.webmanifest")
    assert m.status_code == 200 and m.headers["content-type"] == "application/manifest+json"
    manifest = m.json()
    assert (manifest["start_url"], manifest["display"]) == ("/", "standalone")
    assert "test-site" in manifest["name"]
    for icon in manifest["icons"]:
        png = web.get(icon["src"])
        side = int(icon["sizes"].split("x")[0])
        assert Image.open(io.BytesIO(png.content)).size == (side, side)
    assert web.get("/icons/icon-17.png").status_code == 404
    sw = web.get("/sw.js")
    assert sw.headers["service-worker-allowed"] == "/"
    assert "showNotification" in sw.text and "notificationclick" in sw.text

    assert web.get("/notifications", follow_redirects=False).status_code == 303  # log in first
    web.login("viewer")
    page = web.get("/notifications").text
    assert "Enable notifications on this device" in page and "name nobody" in page
    assert 'rel="manifest"' in page and "/static/push.js" in page
    web.login("operator")
    assert "name nobody" not in web.get("/notifications").text
    assert 'data-uid="0190-abc"' in web.get("/events/0190-abc").text
