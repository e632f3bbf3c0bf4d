"""Webhooks to a local HTTP receiver: HMAC signatures, retries with backoff, delivery log."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from tests.notify.conftest import make_config
from vigil.events.store import Routing, create_event
from vigil.notify.dispatcher import Dispatcher, pending_count
from vigil.notify.webhook import sign, verify_signature
from vigil.store.db import Database
from vigil.store.models.events import Delivery

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
SECRET = "a-secret-of-at-least-16"


class Receiver:
    """Answers the scripted status codes in turn (then 200), recording each request."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                valid = verify_signature(
                    SECRET,
                    body,
                    self.headers.get("X-Vigil-Timestamp"),
                    self.headers.get("X-Vigil-Signature"),
                )
                code = outer.script.pop(0) if outer.script else 200
                outer.requests.append(
                    {
                        "body": body,
                        "valid": valid,
                        "code": code,
                        "at": time.monotonic(),
                        "event": self.headers.get("X-Vigil-Event"),
                    }
                )
                self.send_response(code if valid else 401)
                self.end_headers()
                self.wfile.write(b"nope" if code >= 300 else b"ok")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500, 500])
    yield r
    r.close()


def _wait_delivered(db: Database, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while pending_count(db) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pending_count(db) == 0


def test_signed_post_retried_until_accepted(db: Database, receiver: Receiver) -> None:
    cfg = make_config(webhooks=[{"url": receiver.url, "secret": SECRET}])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    try:
        e = create_event(
            db,
            camera="gate",
            kind="person",
            start=T0,
            routing=Routing.from_config(cfg),
            wake=d.wake,
        )
        _wait_delivered(db)
    finally:
        d.stop()
    reqs = receiver.requests
    assert [r["code"] for r in reqs] == [500, 500, 200]
    assert all(r["valid"] for r in reqs) and {r["event"] for r in reqs} == {e.uid}
    assert len({r["body"] for r in reqs}) == 1  # same body every time; signature per attempt
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(reqs)]
    assert gaps[0] >= 0.07 and gaps[1] >= 0.14  # 0.1 s, then 0.2 s, less up to 20% jitter
    with db.session() as s:
        row = s.scalar(select(Delivery))
        assert row is not None and row.attempts == 3 and row.delivered_at is not None
        assert [(a.ok, a.status) for a in row.log] == [(False, 500), (False, 500), (True, 200)]
        assert row.log[0].error.startswith("HTTP 500")


def test_unreachable_receiver_is_logged_and_kept(db: Database) -> None:
    cfg = make_config(webhooks=[{"url": "http://127.0.0.1:9/hook", "secret": SECRET}])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    try:
        for _ in range(5):
            create_event(
                db,
                camera="gate",
                kind="motion",
                start=T0,
                routing=Routing.from_config(cfg),
                wake=d.wake,
            )
        time.sleep(0.5)
    finally:
        d.stop()
    with db.session() as s:
        rows = list(s.scalars(select(Delivery).order_by(Delivery.id)))
        assert all(r.delivered_at is None and r.gave_up_at is None for r in rows)
        # A down receiver costs one request per backoff period, oldest event first.
        assert rows[0].attempts >= 2 and "ConnectError" in rows[0].last_error
        assert sum(r.attempts for r in rows[1:]) == 0


def test_orphaned_rows_are_given_up(db: Database) -> None:
    old = make_config(webhooks=[{"url": "http://127.0.0.1:9/old", "secret": SECRET}])
    create_event(db, camera="gate", kind="motion", start=T0, routing=Routing.from_config(old))
    d = Dispatcher(db, make_config(), poll_s=0.2)
    d.start()
    d.stop()
    assert pending_count(db) == 0
    with db.session() as s:
        assert s.scalar(select(Delivery.last_error)) == "webhook no longer configured"


def test_signature_checks() -> None:
    body = b'{"uid":"x"}'
    now = 1_800_000_000
    good = sign(SECRET, now, body)
    assert verify_signature(SECRET, body, str(now), good, now=now)
    assert not verify_signature(SECRET, body + b" ", str(now), good, now=now)
    assert not verify_signature("another-secret-16chars", body, str(now), good, now=now)
    assert not verify_signature(SECRET, body, str(now + 1), good, now=now)  # timestamp is signed
    assert not verify_signature(SECRET, body, str(now), good, now=now + 301)  # replay window
    assert not verify_signature(SECRET, body, None, good)
