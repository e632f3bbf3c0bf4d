"""Web Push: what a phone is told, encrypted to it (RFC 8291) and signed by the site (RFC 8292).

The contract:
- a push carries a title, a line of text and the page to open (`/events/<uid>`), never a
  picture; the person's name only when the subscriber's role may see identities (the API's
  rule, handed in as an `Audience`) and the camera recognises faces now; watchlist names never;
- `send` makes one attempt and never raises for network errors: `PushResult.gone` (404/410)
  means the browser's subscription is dead and the caller deletes it, `permanent` (other 4xx
  but 408/429) means retrying the same request cannot help, anything else is retried;
- the body is encrypted with `pywebpush` (aes128gcm) and the VAPID JWT is signed with
  `py_vapid`; the HTTP request itself goes through the caller's httpx client like webhooks.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from vigil.errors import InputError
from vigil.notify.vapid import VapidKeys
from vigil.store.enums import Role
from vigil.store.models.events import Event, EventKind
from vigil.store.models.push import PushSubscription
from vigil.store.models.review import ReviewItem

JWT_LIFETIME_S = 12 * 3600  # RFC 8292 allows at most 24 h
MAX_PAYLOAD = 3000  # push services take about 4 KB after encryption


@dataclass(frozen=True)
class Audience:
    """What a subscriber's role may be told: the API's permissions (`vigil.api.identity.
    push_audience`), handed in because `notify` sits below the API."""

    may_view: Callable[[Role], bool]  # events at all
    sees_identities: Callable[[Role], bool]  # the person's name


def _b64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def check_keys(endpoint: str, p256dh: str, auth: str) -> None:
    """InputError unless these are what a browser's `PushSubscription` reports: an https
    endpoint (http only on loopback), a P-256 public key and a 16-byte secret."""
    parts = urlsplit(endpoint)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise InputError("a push endpoint must be an https:// URL")
    try:
        point = _b64(p256dh)
        secret = _b64(auth)
    except (binascii.Error, ValueError) as exc:
        raise InputError("push keys must be base64url") from exc
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise InputError("keys.p256dh is not a P-256 public key") from exc
    if len(secret) != 16:
        raise InputError("keys.auth must be 16 bytes")


def _label(kind: EventKind) -> str:
    return kind.value.replace("_", " ")


def event_message(event: Event, person: str | None, *, identify: bool) -> dict[str, Any]:
    """The push of an alert event. `identify`: the subscriber may learn who it was."""
    if identify and person:
        text = f"{person} seen"
    elif event.kind is EventKind.zone_change:
        text = f"restricted zone {event.zone}" if event.zone else "restricted zone entered"
    else:
        text = f"{_label(event.kind)} on a watchlist" if event.details.get("watchlists") else ""
        text = text or _label(event.kind)
    return {
        "kind": "event",
        "title": f"Alert · {event.camera}",
        "body": text,
        "url": f"/events/{event.uid}",
        "tag": f"event-{event.uid}",
        "camera": event.camera,
        "uid": event.uid,
        "start": event.start.isoformat(),
    }


def review_message(item: ReviewItem, event_uid: str) -> dict[str, Any]:
    """The push of a new review item, as stored when sent (names nobody: kinds and counts)."""
    counts = ", ".join(
        k.replace("_", " ") + (f" ×{n}" if n > 1 else "") for k, n in sorted(item.objects.items())
    )
    return {
        "kind": "review",
        "title": f"{item.severity.value.capitalize()} · {item.camera}",
        "body": counts or "activity",
        "url": f"/events/{event_uid}",
        "tag": f"review-{item.id}",
        "camera": item.camera,
        "review_id": item.id,
        "start": item.start.isoformat(),
    }


def encode(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":"), sort_keys=True).encode()
    if len(data) > MAX_PAYLOAD:  # a very long camera or zone name: the text goes first
        data = json.dumps({**message, "body": ""}, separators=(",", ":")).encode()[:MAX_PAYLOAD]
    return data


@dataclass
class PushResult:
    ok: bool
    status: int | None
    error: str
    duration_ms: float
    gone: bool = False  # 404/410: the subscription no longer exists
    permanent: bool = False  # resending the same request cannot succeed


def authorization(keys: VapidKeys, endpoint: str, subject: str) -> str:
    """The `Authorization: vapid t=<JWT>,k=<public key>` header for one push service."""
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "sub": subject,
        "exp": int(time.time()) + JWT_LIFETIME_S,
    }
    return str(Vapid02(keys.private).sign(claims)["Authorization"])


def send(
    client: httpx.Client,
    sub: PushSubscription,
    data: bytes,
    *,
    keys: VapidKeys,
    subject: str,
    ttl_s: int,
    urgency: str,
    timeout_s: float,
) -> PushResult:
    """One encrypted, signed POST to the subscription's push service."""
    from pywebpush import WebPusher  # here: it loads aiohttp (~0.3 s) that only a push needs

    info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
    body = WebPusher(info).encode(data, "aes128gcm")["body"]
    headers = {
        "Authorization": authorization(keys, sub.endpoint, subject),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(ttl_s),
        "Urgency": urgency,
    }
    t0 = time.perf_counter()
    try:
        r = client.post(sub.endpoint, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        ms = (time.perf_counter() - t0) * 1000
        return PushResult(False, None, f"{type(exc).__name__}: {exc}"[:500], ms)
    ms = (time.perf_counter() - t0) * 1000
    code = r.status_code
    if 200 <= code < 300:
        return PushResult(True, code, "", ms)
    error = f"HTTP {code}: {r.text[:200]}"
    gone = code in (404, 410)
    permanent = not gone and 400 <= code < 500 and code not in (408, 429)
    return PushResult(False, code, error, ms, gone=gone, permanent=permanent)
