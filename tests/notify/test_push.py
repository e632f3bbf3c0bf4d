"""Web Push to a local push service: a real HTTP server on loopback stands in for the browser's
push service; each test device has its own P-256 key and auth secret, and the test decrypts
what arrives (RFC 8291, `http_ece`) and checks the VAPID signature (RFC 8292) itself."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import select

from tests.notify.conftest import RECORD, add_person
from tests.notify.push_service import Device, PushService
from vigil.api.identity import push_audience
from vigil.cli import run
from vigil.config import VigilConfig
from vigil.errors import InputError, NotFoundError
from vigil.events.store import Routing, create_event, update_event
from vigil.events.verification import verify
from vigil.events.watchlists import add_to_watchlist, create_watchlist
from vigil.notify.dispatcher import Dispatcher
from vigil.notify.subscriptions import Choice, subscribe, subscriptions, unsubscribe
from vigil.notify.vapid import KEY_FILE, b64url, load_or_create
from vigil.store.db import Database
from vigil.store.models.events import Channel, Delivery
from vigil.store.models.users import Role, User

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
def service() -> Iterator[PushService]:
    s = PushService()
    yield s
    s.close()


def config(data_dir: Path, *, recognise: bool = True) -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "site": {"name": "Test Site"},
            "storage": {"data_dir": str(data_dir)},
            "privacy": {"face_recognition_enabled": recognise, "legal_basis": "consent"},
            "cameras": [
                {"name": "gate", "url": "a.mp4", **RECORD},
                {"name": "hall", "url": "b.mp4", **RECORD},
            ],
            "notify": {
                "retry_min_s": 0.05,
                "retry_max_s": 0.2,
                "push": {"subject": "mailto:ops@example.org", "ttl_s": 600},
            },
        }
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[VigilConfig, Database]]:
    cfg = config(tmp_path)
    db = Database(f"sqlite:///{tmp_path / 'vigil.db'}")
    yield cfg, db
    db.close()


def add_user(db: Database, name: str, role: Role) -> int:
    with db.session() as s:
        u = User(username=name, password_hash="x", role=role)
        s.add(u)
        s.flush()
        return u.id


def enable(
    db: Database, user: int, service: PushService, path: str, device: Device, **choice: Any
) -> int:
    sub = subscribe(
        db,
        user,
        f"{service.base}{path}",
        device.p256dh,
        b64url(device.auth),
        Choice(**choice),
        known_cameras=["gate", "hall"],
    )
    return sub.id


def verify_vapid(header: str, public_b64: str, endpoint_origin: str) -> dict[str, Any]:
    """Check `vapid t=<JWT>,k=<key>` as a push service does; return the JWT's claims."""
    scheme, _, params = header.partition(" ")
    assert scheme == "vapid"
    parts = dict(p.split("=", 1) for p in params.split(","))
    assert parts["k"] == public_b64  # the site's key, as the page subscribed with
    signing_input, _, sig_b64 = parts["t"].rpartition(".")
    raw = base64.urlsafe_b64decode(sig_b64 + "=" * (-len(sig_b64) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    point = base64.urlsafe_b64decode(public_b64 + "=" * (-len(public_b64) % 4))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    header_b64, _, claims_b64 = signing_input.partition(".")
    head = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert head["alg"] == "ES256"
    claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
    assert claims["aud"] == endpoint_origin
    assert claims["sub"] == "mailto:ops@example.org"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    return claims


def start(cfg: VigilConfig, db: Database) -> Dispatcher:
    d = Dispatcher(db, cfg, poll_s=0.05, audience=push_audience())
    d.start()
    return d


def test_alert_reaches_each_device_encrypted_signed_and_named_by_role(
    site: tuple[VigilConfig, Database], service: PushService
) -> None:
    cfg, db = site
    admin, viewer = Device.new(), Device.new()
    enable(db, add_user(db, "ada", Role.admin), service, "/push/admin", admin)
    enable(db, add_user(db, "vic", Role.viewer), service, "/push/viewer", viewer)
    alice = add_person(db, "Alice Example")
    d = start(cfg, db)
    try:
        event = create_event(
            db,
            camera="gate",
            kind="known_person",
            start=T0,
            person_id=alice,
            score=0.8,
            routing=Routing.from_config(cfg),
            wake=d.wake,
        )
        got = {r["path"]: r for r in service.wait_for(2)}
    finally:
        d.stop()
    keys = load_or_create(cfg.storage.data_dir)
    for r in got.values():
        h = {k.lower(): v for k, v in r["headers"].items()}
        verify_vapid(h["authorization"], keys.public_b64, service.base)
        assert (h["content-encoding"], h["ttl"], h["urgency"]) == ("aes128gcm", "600", "high")
        assert b"Alice" not in r["body"]  # encrypted on the wire
    seen = admin.decrypt(got["/push/admin"]["body"])
    assert seen["body"] == "Alice Example seen"
    assert (seen["url"], seen["title"]) == (f"/events/{event.uid}", "Alert · gate")
    unnamed = viewer.decrypt(got["/push/viewer"]["body"])
    assert "Alice" not in json.dumps(unnamed)  # a viewer's role may not see identities
    assert unnamed["body"] == "known person" and unnamed["url"] == f"/events/{event.uid}"
    with db.session() as s:
        rows = list(s.scalars(select(Delivery).where(Delivery.channel == Channel.push)))
    assert len(rows) == 2 and all(r.delivered_at and r.attempts == 1 for r in rows)
    assert all(sub.last_sent_at is not None for sub in subscriptions(db))


def test_gone_device_is_deleted_and_a_failing_one_retried(
    site: tuple[VigilConfig, Database], service: PushService
) -> None:
    cfg, db = site
    user = add_user(db, "ops", Role.operator)
    gone = enable(db, user, service, "/push/gone", Device.new())
    flaky = enable(db, user, service, "/push/flaky", Device.new())
    service.scripts = {"/push/gone": [410], "/push/flaky": [503]}
    d = start(cfg, db)
    try:
        e = create_event(
            db,
            camera="hall",
            kind="zone_change",
            start=T0,
            zone="vault",
            details={"zone_kind": "restricted"},
            routing=Routing.from_config(cfg),
            wake=d.wake,
        )
        service.wait_for(3)  # gone once, flaky twice
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with db.session() as s:
                rows = {
                    r.target: r
                    for r in s.scalars(select(Delivery).where(Delivery.event_uid == e.uid))
                }
            if all(r.delivered_at or r.gave_up_at for r in rows.values()):
                break
            time.sleep(0.02)
    finally:
        d.stop()
    assert [s.id for s in subscriptions(db)] == [flaky]  # 410: the device forgot us
    assert rows[str(gone)].gave_up_at is not None and "410" in rows[str(gone)].last_error
    assert rows[str(flaky)].delivered_at is not None and rows[str(flaky)].attempts == 2
    assert [r["path"] for r in service.requests].count("/push/gone") == 1


def test_held_match_is_pushed_only_once_confirmed(
    site: tuple[VigilConfig, Database], service: PushService, tmp_path: Path
) -> None:
    cfg, db = site
    phone = Device.new()
    enable(db, add_user(db, "ops", Role.operator), service, "/push/ops", phone)
    bob = add_person(db, "Bob Example")
    create_watchlist(db, "banned", "alert", confirmations_required=1)
    add_to_watchlist(db, "banned", bob)
    d = start(cfg, db)
    try:
        e = create_event(
            db,
            camera="gate",
            kind="known_person",
            start=T0,
            person_id=bob,
            score=0.9,
            routing=Routing.from_config(cfg),
            wake=d.wake,
        )
        assert e.verification == "pending"
        update_event(  # its completion is held too, and a phone is told once
            db, e.uid, end=T0 + timedelta(seconds=5), data_dir=tmp_path, wake=d.wake
        )
        time.sleep(0.4)  # eight dispatcher polls
        assert service.requests == []
        verify(
            db,
            e.uid,
            actor="chief",
            verdict="confirm",
            reason="checked the footage",
            audit=lambda *_: None,
            wake=d.wake,
        )
        got = service.wait_for(1)
        time.sleep(0.2)
    finally:
        d.stop()
    assert len(service.requests) == 1
    assert phone.decrypt(got[0]["body"])["body"] == "Bob Example seen"


def test_review_items_pushed_when_new_on_chosen_cameras(
    site: tuple[VigilConfig, Database], service: PushService, tmp_path: Path
) -> None:
    cfg, db = site
    phone = Device.new()
    user = add_user(db, "vic", Role.viewer)
    enable(db, user, service, "/push/r", phone, alerts=False, reviews=True, cameras=["gate"])
    routing = Routing.from_config(cfg)
    first = create_event(db, camera="gate", kind="person", start=T0, routing=routing)
    create_event(  # same activity: an update, not a new item
        db, camera="gate", kind="person", start=T0 + timedelta(seconds=2), routing=routing
    )
    create_event(db, camera="hall", kind="person", start=T0, routing=routing)  # not chosen
    d = start(cfg, db)
    try:
        got = service.wait_for(1)
        time.sleep(0.2)
    finally:
        d.stop()
    assert len(service.requests) == 1
    msg = phone.decrypt(got[0]["body"])
    assert (msg["kind"], msg["title"], msg["body"]) == ("review", "Detection · gate", "person ×2")
    assert msg["url"] == f"/events/{first.uid}"
    assert {k.lower(): v for k, v in got[0]["headers"].items()}["urgency"] == "normal"


def test_subscriptions_check_input_and_removal_gives_up_rows(
    site: tuple[VigilConfig, Database], service: PushService
) -> None:
    cfg, db = site
    user, other = add_user(db, "vic", Role.viewer), add_user(db, "ann", Role.viewer)
    dev = Device.new()
    with pytest.raises(InputError, match="https"):
        subscribe(db, user, "ftp://x/y", dev.p256dh, b64url(dev.auth), Choice(), known_cameras=[])
    with pytest.raises(InputError, match="P-256"):
        subscribe(
            db,
            user,
            "https://push.example/x",
            b64url(b"\x04" + b"1" * 64),
            b64url(dev.auth),
            Choice(),
            known_cameras=[],
        )
    with pytest.raises(InputError, match="no camera attic"):
        enable(db, user, service, "/p", dev, cameras=["attic"])
    sub = enable(db, user, service, "/p", dev)
    create_event(db, camera="gate", kind="known_person", start=T0, routing=Routing.from_config(cfg))
    again = enable(db, other, service, "/p", dev)  # the browser changed hands
    assert [(s.id, s.user_id) for s in subscriptions(db)] == [(again, other)] and again != sub
    with pytest.raises(NotFoundError, match="no push subscription"):
        unsubscribe(db, again, user_id=user)  # not theirs any more
    unsubscribe(db, again, user_id=other)
    assert subscriptions(db) == []
    with db.session() as s:
        rows = list(s.scalars(select(Delivery).where(Delivery.channel == Channel.push)))
    assert rows and all(r.gave_up_at is not None for r in rows)


def test_vapid_key_made_once_private_and_shared(tmp_path: Path) -> None:
    a = load_or_create(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(tmp_path).public_b64 == a.public_b64
    assert len(a.public_raw) == 65 and a.public_raw[0] == 4
    os.chmod(path, 0o644)
    load_or_create(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_cli_lists_tests_and_removes_devices(
    data_dir: Path, service: PushService, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*args: str) -> tuple[int, str]:
        code = run(["--data-dir", str(data_dir), *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(data_dir)}})
    db = Database(cfg.storage.resolved_database_url())
    try:
        phone = Device.new()
        sub = subscribe(
            db,
            add_user(db, "vic", Role.viewer),
            f"{service.base}/push/t",
            phone.p256dh,
            b64url(phone.auth),
            Choice(reviews=True),
            known_cameras=[],
            label="Firefox on Android",
        ).id
    finally:
        db.close()
    service.scripts = {"/push/t": [201, 410]}
    code, out = cli("push", "key")
    assert code == 0 and out.strip() == load_or_create(data_dir).public_b64
    code, out = cli("push", "list", "--json")
    assert [(r["id"], r["user"], r["reviews"]) for r in json.loads(out)] == [(sub, "vic", True)]
    code, out = cli("push", "list")
    assert code == 0 and "Firefox on Android" in out and "alerts, review items" in out
    code, out = cli("push", "test", str(sub))
    assert code == 0 and "sent: HTTP 201" in out
    assert phone.decrypt(service.requests[0]["body"])["body"] == "Test notification"
    code, out = cli("push", "test", str(sub))
    assert code == 1 and "HTTP 410" in out and "vigil push remove" in out
    assert cli("push", "remove", str(sub))[0] == 0
    assert json.loads(cli("push", "list", "--json")[1]) == []
    assert cli("push", "remove", str(sub))[0] == 3  # not found


def test_a_push_queued_before_its_match_needed_confirming_waits_too(
    site: tuple[VigilConfig, Database], service: PushService, tmp_path: Path
) -> None:
    """Announced as someone on no list, then matched better to someone on a confirming list
    before the push left: the queued push (which would name them) waits for the verdict."""
    cfg, db = site
    phone = Device.new()
    enable(db, add_user(db, "ops", Role.operator), service, "/push/ops", phone)
    ann, bob = add_person(db, "Ann Example"), add_person(db, "Bob Example")
    create_watchlist(db, "banned", "alert", confirmations_required=1)
    add_to_watchlist(db, "banned", bob)
    routing = Routing.from_config(cfg)
    e = create_event(
        db, camera="gate", kind="known_person", start=T0, person_id=ann, score=0.5, routing=routing
    )
    update_event(db, e.uid, end=T0, data_dir=tmp_path, person_id=bob, score=0.7, routing=routing)
    d = start(cfg, db)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with db.session() as s:
                row = s.scalar(select(Delivery).where(Delivery.channel == Channel.push))
            if row is not None and row.held:
                break
            time.sleep(0.02)
        assert row is not None and row.held and service.requests == []
        verify(db, e.uid, actor="chief", verdict="reject", reason="not him", audit=lambda *_: None)
        time.sleep(0.2)
    finally:
        d.stop()
    assert service.requests == []  # rejected: never sent
    with db.session() as s:
        given_up = s.get(Delivery, row.id)
        assert given_up is not None and given_up.gave_up_at is not None
