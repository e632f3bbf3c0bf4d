"""Live H.264 for browsers (MSE): who is refused it, viewers sharing one reader of a camera,
and saved grid layouts per user."""

from __future__ import annotations

import io
import struct
import threading
from pathlib import Path

import av
import httpx
import pytest

from tests.api.helpers import Client
from tests.web.conftest import serve
from vigil.api import ApiContext, accounts, create_app
from vigil.privacy.audit import AuditLog

pytestmark = pytest.mark.timeout(60)
HEADER = struct.Struct(">BBI")


def test_protected_role_and_masked_camera_get_no_h264(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    op, viewer = clients["operator"], clients["viewer"]
    # Viewers see people pixelated on every camera by default: processed frames only.
    r = viewer.get("/api/v1/live/stream", params={"camera": "lobby"})
    assert r.status_code == 403 and "pixelated for the viewer role" in r.json()["detail"]
    modes = {c["name"]: c for c in viewer.get("/api/v1/live/cameras").json()}
    assert not modes["lobby"]["mse"] and "MJPEG" in modes["lobby"]["reason"]
    assert {c["name"]: c["mse"] for c in op.get("/api/v1/live/cameras").json()}["lobby"]
    # Privacy masks that are not burned into the stream: nobody gets the raw video.
    cam = ctx.config.cameras[0]
    cam.privacy_masks = [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]]
    r = op.get("/api/v1/live/stream", params={"camera": "lobby"})
    assert r.status_code == 403 and "privacy masks" in r.json()["detail"]
    # Burned in, but the stream being sent is not the masked one yet: still refused.
    cam.privacy_masks_burn_in = True
    assert op.get("/api/v1/live/stream", params={"camera": "lobby"}).status_code == 403
    ctx.feeds.feed("lobby").masked = True  # the recorder feeds the burned-in packets
    assert {c["name"]: c["mse"] for c in op.get("/api/v1/live/cameras").json()}["lobby"]
    # Unknown and too many cameras are input errors; nothing was audited as viewed.
    assert op.get("/api/v1/live/stream", params={"camera": "nope"}).status_code == 404
    many = {"camera": ["lobby"] * 17}
    assert op.get("/api/v1/live/stream", params=many).status_code == 422
    assert not AuditLog.from_config(ctx.config).query(ctx.db, action="view_live")


def read_stream(
    url: str, token: str, want: int, got: list, ended: list, ready: threading.Barrier
) -> None:
    """Read framed messages: after `want` media messages wait at `ready` (twice), then read
    on until the camera's stream ends (its reason into `ended`) and the response with it."""
    buf = b""
    waited = False
    with (
        httpx.Client(timeout=20) as c,
        c.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        assert r.status_code == 200, r.read()
        for chunk in r.iter_bytes():
            buf += chunk
            while len(buf) >= HEADER.size:
                kind, index, size = HEADER.unpack_from(buf)
                if len(buf) < HEADER.size + size:
                    break
                payload = buf[HEADER.size : HEADER.size + size]
                buf = buf[HEADER.size + size :]
                assert index == 0 and kind in (1, 3), (kind, index, payload)
                (got if kind == 1 else ended).append(payload)
            if len(got) >= want and not waited:  # (leaving iter_bytes closes the connection)
                waited = True
                ready.wait(20)  # all viewers connected at once
                ready.wait(20)  # counted


def test_viewers_of_a_camera_share_one_reader_and_get_the_same_fragments(
    ctx: ApiContext, tmp_path: Path
) -> None:
    user = next(u for u in accounts.list_users(ctx.db) if u.username == "operator")
    token, _ = accounts.create_token(ctx.db, user.id, "live test")
    viewers = 3
    ready = threading.Barrier(viewers + 1)
    got: list[list[bytes]] = [[] for _ in range(viewers)]
    ended: list[list[bytes]] = [[] for _ in range(viewers)]
    with serve(create_app(ctx, web=False)) as base:
        url = f"{base}/api/v1/live/stream?camera=lobby"
        threads = [
            threading.Thread(target=read_stream, args=(url, token, 8, got[i], ended[i], ready))
            for i in range(viewers)
        ]
        for t in threads:
            t.start()
        ready.wait(30)
        feed = ctx.feeds.feed("lobby")
        watching, readers = feed.viewers, ctx.feeds.readers_started
        # Masks saved meanwhile: within a second every open stream stops sending the video.
        ctx.config.cameras[0].privacy_masks = [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]]
        ready.wait(20)
        for t in threads:
            t.join(10)
        left = feed.viewers
        ctx.feeds.close()
    assert (watching, readers) == (viewers, 1)
    assert all(len(e) == 1 and b"privacy masks" in e[0] for e in ended), ended
    assert not any(t.is_alive() for t in threads) and left == 0
    inits = {g[0] for g in got}
    assert len(inits) == 1 and next(iter(inits))[4:8] == b"ftyp"
    # Every viewer got fragments of the one muxer: the same bytes where they overlap.
    for other in got[1:]:
        assert set(got[0][1:]) & set(other[1:])
    # What a viewer got plays: init + fragments decode as H.264 frames.
    with av.open(io.BytesIO(b"".join(got[0])), format="mp4") as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) >= 6
    assert AuditLog.from_config(ctx.config).query(ctx.db, actor="operator", action="view_live")


def test_layouts_are_saved_per_user(clients: dict[str, Client], ctx: ApiContext) -> None:
    op, viewer = clients["operator"], clients["viewer"]
    body = {"name": "entrances", "grid": 4, "cameras": ["lobby", None, "yard"]}
    r = op.post("/api/v1/live/layouts", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["cameras"] == ["lobby", None, "yard"] and made["grid"] == 4
    assert op.post("/api/v1/live/layouts", json=body).status_code == 409
    for bad in (
        {**body, "grid": 6},
        {**body, "cameras": ["nope"]},
        {**body, "grid": 1, "cameras": ["lobby", "lobby"]},
        {**body, "name": ""},
    ):
        assert op.post("/api/v1/live/layouts", json=bad).status_code == 422, bad
    # Each user sees and changes only their own.
    assert viewer.get("/api/v1/live/layouts").json() == []
    url = f"/api/v1/live/layouts/{made['id']}"
    assert viewer.put(url, json=body).status_code == 404
    assert viewer.delete(url).status_code == 404
    r = op.put(url, json={**body, "grid": 9, "cameras": ["yard"]})
    assert r.status_code == 200 and r.json()["grid"] == 9
    assert [x["cameras"] for x in op.get("/api/v1/live/layouts").json()] == [["yard"]]
    assert op.delete(url).status_code == 204
    assert op.get("/api/v1/live/layouts").json() == []
