"""Two-person verification of matches (AI Act Art. 14(5)), with real parts: the API with real
clients, a real Mosquitto broker and a webhook receiver on loopback, the real dispatcher.

Events go in through the event store (the pipeline is not what is under test). "Nothing was
sent" is shown without sleeping: a later, unheld event is delivered first (the dispatcher
sends in outbox order), then the held one is checked to be absent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from tests.api.helpers import Client
from tests.notify.conftest import Subscriber, add_person, make_config
from tests.notify.test_webhook import Receiver
from vigil.api import ApiContext
from vigil.events.store import Routing, create_event, update_event
from vigil.faces.calibration import fit_input
from vigil.faces.verified_pairs import verified_scores
from vigil.notify.broker import Mosquitto, mosquitto_path
from vigil.notify.dispatcher import Dispatcher
from vigil.store.models.audit import AuditRecord
from vigil.store.models.events import Delivery
from vigil.store.models.faces import Template

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
MODEL = "test-model"


@pytest.fixture
def mqtt(tmp_path: Path) -> Iterator[Mosquitto]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto not installed (scripts/system-deps.sh test)")
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    r = Receiver([])
    yield r
    r.close()


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def _uid(payload: bytes) -> str | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    return body.get("uid") if isinstance(body, dict) else None


def _sent(sub: Subscriber, hook: Receiver) -> tuple[list[str | None], list[str | None]]:
    """The event uids MQTT and the webhook got, one per message (repeats kept)."""
    with sub.cond:
        mqtt = [_uid(m.payload) for m in sub.messages]
    return mqtt, [_uid(r["body"]) for r in list(hook.requests)]


def _wait(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _flush(ctx: ApiContext, routing: Routing, sub: Subscriber, hook: Receiver, n: int) -> None:
    """Store an unheld event and wait until MQTT and the webhook have it: everything queued
    before it and not held has been sent by then."""
    e = create_event(
        ctx.db, camera="gate", kind="person", start=T0 + timedelta(minutes=n), routing=routing
    )
    _wait(lambda: all(e.uid in got for got in _sent(sub, hook)))


def _never_sent(uid: str, sub: Subscriber, hook: Receiver) -> bool:
    mqtt, webhook = _sent(sub, hook)
    return uid not in mqtt and uid not in webhook


def test_two_people_confirm_before_anyone_is_told(
    ctx: ApiContext,
    clients: dict[str, Client],
    mqtt: Mosquitto,
    hook: Receiver,
) -> None:
    admin, op, viewer = clients["admin"], clients["operator"], clients["viewer"]
    mallory = add_person(ctx.db, "Mallory")
    with ctx.db.session() as s:
        s.add(
            Template(
                person_id=mallory,
                embedding=_vec(1).tobytes(),
                model=MODEL,
                image_sha256="0" * 64,
                quality=1.0,
                legal_basis="consent",
                enrolled_by="test",
            )
        )

    # An alert list asks for two confirmations unless told otherwise.
    r = admin.post("/api/v1/watchlists", json={"name": "banned", "action": "alert"})
    assert r.status_code == 201, r.text
    assert r.json()["confirmations_required"] == 2
    wl = r.json()["id"]
    assert admin.put(f"/api/v1/watchlists/{wl}/members/{mallory}").status_code == 200
    notify = admin.post("/api/v1/watchlists", json={"name": "staff", "action": "notify"})
    assert notify.json()["confirmations_required"] == 0
    r = admin.patch(f"/api/v1/watchlists/{wl}", json={"confirmations_required": 4})
    assert r.status_code == 422

    cfg = make_config(
        mqtt_port=mqtt.port, webhooks=[{"url": hook.url, "secret": "a-secret-of-at-least-16"}]
    )
    routing = Routing.from_config(cfg)
    sub = Subscriber(mqtt.port, ["vigil/#"])
    d = Dispatcher(ctx.db, cfg, poll_s=0.05)
    d.start()
    try:
        seen = create_event(
            ctx.db,
            camera="gate",
            kind="known_person",
            start=T0,
            person_id=mallory,
            score=0.61,
            routing=routing,
            wake=d.wake,
            model=MODEL,
        )
        assert seen.verification == "pending"
        # The track ends while people look at it: its end notification is held as well.
        update_event(ctx.db, seen.uid, end=T0 + timedelta(seconds=5), data_dir=ctx.data_dir)
        listed = op.get("/api/v1/verifications").json()
        assert listed["total"] == 1
        assert listed["events"][0]["person"] == "Mallory"
        assert listed["events"][0]["verification"] == "pending"
        assert viewer.get("/api/v1/verifications").status_code == 403

        _flush(ctx, routing, sub, hook, 1)
        assert _never_sent(seen.uid, sub, hook)

        say = {"verdict": "confirm", "reason": "face and jacket match the photo on file"}
        url = f"/api/v1/events/{seen.uid}/verification"
        assert op.post(url, json={"verdict": "confirm"}).status_code == 422  # no reason
        assert viewer.post(url, json=say).status_code == 403
        r = op.post(url, json=say)
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["confirmations"], r.json()["required"]) == (
            "pending",
            1,
            2,
        )
        again = op.post(url, json=say)
        assert again.status_code == 409
        assert "operator has already given a verdict" in again.json()["detail"]
        _flush(ctx, routing, sub, hook, 2)
        assert _never_sent(seen.uid, sub, hook)

        r = admin.post(url, json=say)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "confirmed"
        # started and ended, each to two MQTT topics (kind, camera's person) and the webhook
        assert r.json()["released"] == 6
        _wait(lambda: [got.count(seen.uid) for got in _sent(sub, hook)] == [4, 2])

        # A rejection: nothing is ever sent, and the event names nobody.
        wrong = create_event(
            ctx.db,
            camera="gate",
            kind="known_person",
            start=T0 + timedelta(minutes=5),
            person_id=mallory,
            score=0.58,
            routing=routing,
            wake=d.wake,
            model=MODEL,
        )
        no = {"verdict": "reject", "reason": "a different person: no scar, older"}
        r = clients["operator"].post(f"/api/v1/events/{wrong.uid}/verification", json=no)
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["cancelled"]) == ("rejected", 3)
        late = admin.post(f"/api/v1/events/{wrong.uid}/verification", json=say)
        assert late.status_code == 409
        shown = admin.get(f"/api/v1/events/{wrong.uid}").json()
        assert (shown["person"], shown["person_id"], shown["kind"]) == (None, None, "face")
        assert shown["verification"] == "rejected"
        update_event(
            ctx.db,
            wrong.uid,
            end=T0 + timedelta(minutes=5, seconds=3),
            data_dir=ctx.data_dir,
            person_id=mallory,
            score=0.7,
        )
        assert admin.get(f"/api/v1/events/{wrong.uid}").json()["person_id"] is None
        _flush(ctx, routing, sub, hook, 6)
        assert _never_sent(wrong.uid, sub, hook)
        with ctx.db.session() as s:
            own = (Delivery.event_uid == wrong.uid, Delivery.review_id.is_(None))
            rows = list(s.scalars(select(Delivery).where(*own)))
        assert rows and all(r.delivered_at is None and r.gave_up_at for r in rows)
    finally:
        d.stop()
        sub.close()

    with ctx.db.session() as s:
        records = list(
            s.scalars(
                select(AuditRecord)
                .where(AuditRecord.action == "match_verify")
                .order_by(AuditRecord.seq)
            )
        )
    got = [(r.actor, r.details["verdict"], r.details["event"], r.reason) for r in records]
    assert got == [
        ("operator", "confirm", seen.uid, say["reason"]),
        ("admin", "confirm", seen.uid, say["reason"]),
        ("operator", "reject", wrong.uid, no["reason"]),
    ]
    assert all(r.details["person"] == mallory for r in records)

    # The verdicts labelled the pairs; the calibration fit can include them.
    scores, same = verified_scores(ctx.db, MODEL)
    assert same.tolist() == [True, False]
    assert scores.tolist() == [0.61, 0.58]  # the match scores; no face template is kept
    fit_scores, fit_same = fit_input(np.array([0.9, 0.1]), np.array([True, False]), (scores, same))
    assert len(fit_scores) == 4 and fit_same.tolist() == [True, False, True, False]
    assert fit_scores[3] == pytest.approx(scores[1])
