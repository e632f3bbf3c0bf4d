"""Webhooks: signed HTTP POSTs of event JSON.

Signature: `X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>`
with `X-Vigil-Timestamp: <Unix seconds>`. The timestamp is inside the signed bytes, so a
receiver that rejects old timestamps (see `verify_signature`) cannot be fed a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx

SIGNATURE_HEADER = "X-Vigil-Signature"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
EVENT_HEADER = "X-Vigil-Event"
DELIVERY_HEADER = "X-Vigil-Delivery"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """What a receiver checks: a fresh timestamp and a matching signature (constant time)."""
    if not timestamp or not signature:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


@dataclass
class PostResult:
    ok: bool
    status: int | None
    error: str
    duration_ms: float


def post(
    client: httpx.Client,
    url: str,
    secret: str,
    body: bytes,
    *,
    event_uid: str,
    delivery_id: int,
    timeout_s: float,
) -> PostResult:
    """One delivery attempt; any 2xx is success. Never raises for network errors."""
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, ts, body),
        EVENT_HEADER: event_uid,
        DELIVERY_HEADER: str(delivery_id),
    }
    t0 = time.perf_counter()
    try:
        r = client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        ms = (time.perf_counter() - t0) * 1000
        return PostResult(False, None, f"{type(exc).__name__}: {exc}"[:500], ms)
    ms = (time.perf_counter() - t0) * 1000
    if 200 <= r.status_code < 300:
        return PostResult(True, r.status_code, "", ms)
    return PostResult(False, r.status_code, f"HTTP {r.status_code}: {r.text[:200]}", ms)
