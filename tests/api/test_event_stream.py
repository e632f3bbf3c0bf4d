"""The server-sent events stream on a real server (127.0.0.1): new events arrive as stored."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tests.api.helpers import PASSWORD, now
from vigil.api import ApiContext, create_app
from vigil.api.routes import event_stream
from vigil.events.store import create_event
from vigil.process import free_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(ctx: ApiContext) -> Iterator[str]:
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(ctx, web=False), host="127.0.0.1", port=port, log_level="warning")
    )
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    ctx.live.close()  # ends open streams
    srv.should_exit = True
    t.join(5)


def _login(c: httpx.Client, user: str) -> None:
    r = c.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text


def _messages(lines: Iterator[str], n: int, timeout: float = 10.0) -> list[dict]:
    """The next `n` messages (id, event, data) and comments seen on the way."""
    out: list[dict] = []
    msg: dict = {}
    deadline = time.monotonic() + timeout
    for line in lines:
        assert time.monotonic() < deadline, "stream too slow"
        if line.startswith(":"):
            out.append({"comment": line[1:].strip()})
        elif line == "":
            if msg:
                out.append(msg)
                msg = {}
                if sum("data" in m for m in out) >= n:
                    return out
        else:
            k, _, v = line.partition(": ")
            msg[k] = v
    return out


def test_new_events_arrive_live(
    server: str, ctx: ApiContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_stream, "KEEPALIVE_S", 0.2)
    old = create_event(ctx.db, camera="lobby", kind="person", start=now())  # before: not sent
    with httpx.Client(base_url=server, timeout=10) as c:
        _login(c, "viewer")
        with c.stream("GET", "/api/v1/events/stream") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            t0 = time.monotonic()
            a = create_event(ctx.db, camera="lobby", kind="face", start=now())
            b = create_event(ctx.db, camera="yard", kind="motion", start=now())
            got = _messages(lines, 2)
            latency = time.monotonic() - t0
            data = [json.loads(m["data"]) for m in got if "data" in m]
            assert [d["uid"] for d in data] == [a.uid, b.uid]
            assert old.uid not in {d["uid"] for d in data}
            assert data[0]["kind"] == "face" and data[0]["camera"] == "lobby"
            assert [m["event"] for m in got if "data" in m] == ["event", "event"]
            assert int(got[-1]["id"]) == data[-1]["id"]
            assert latency < 3
            # Quiet stream: keep-alive comments.
            assert next(line for line in lines if line.startswith(":")) == ": keep-alive"


def test_resume_filter_and_auth(server: str, ctx: ApiContext) -> None:
    first = create_event(ctx.db, camera="lobby", kind="person", start=now())
    create_event(ctx.db, camera="yard", kind="person", start=now())
    third = create_event(ctx.db, camera="lobby", kind="face", start=now())
    with httpx.Client(base_url=server, timeout=10) as c:
        assert c.get("/api/v1/events/stream").status_code == 401
        _login(c, "auditor")
        assert c.get("/api/v1/events/stream").status_code == 403
        _login(c, "viewer")
        assert c.get("/api/v1/events/stream", params={"after": -1}).status_code == 422
        # Last-Event-ID resumes after the given id; camera filters.
        headers = {"Last-Event-ID": str(first.id - 1)}
        with c.stream(
            "GET", "/api/v1/events/stream", params={"camera": "lobby"}, headers=headers
        ) as r:
            got = [json.loads(m["data"]) for m in _messages(r.iter_lines(), 2) if "data" in m]
    assert [d["uid"] for d in got] == [first.uid, third.uid]


def test_stream_shows_identity_only_to_the_people_permission(server: str, ctx: ApiContext) -> None:
    from vigil.store.models.faces import Person

    with ctx.db.session() as s:
        person = Person(name="Ada Lovelace", created_by="test")
        s.add(person)
        s.flush()
        pid = person.id
    seen: dict[str, dict] = {}
    for role in ("viewer", "operator"):
        with httpx.Client(base_url=server, timeout=10) as c:
            _login(c, role)
            with c.stream("GET", "/api/v1/events/stream") as r:
                lines = r.iter_lines()
                next(lines)  # the stream is open: events from now on are sent
                create_event(
                    ctx.db,
                    camera="lobby",
                    kind="known_person",
                    start=now(),
                    person_id=pid,
                    score=0.7,
                    confidence=0.98,
                )
                [seen[role]] = [json.loads(m["data"]) for m in _messages(lines, 1) if "data" in m]
    assert seen["operator"]["person"] == "Ada Lovelace" and seen["operator"]["person_id"] == pid
    assert seen["viewer"]["kind"] == "known_person"
    assert [seen["viewer"][k] for k in ("person", "person_id", "score", "confidence")] == [None] * 4
