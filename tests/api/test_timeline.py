"""The camera page's time line (issue 17): one request for a window's spans, gaps, motion,
events and review items; thumbnails at an instant, cached, masked and pixelated as playback is,
gone with their segment."""

from __future__ import annotations

from datetime import timedelta

import cv2
import numpy as np
import pytest

from tests.api.conftest import Footage
from tests.api.helpers import Client
from vigil.api import ApiContext
from vigil.api.routes.timeline import thumbnail_cache
from vigil.camera import thumbnails
from vigil.camera.footage_retention import run_retention
from vigil.camera.index import camera_segments, recordings_dir
from vigil.camera.thumbnails import frame_at, thumbnails_root
from vigil.events.store import Routing, create_event
from vigil.privacy.audit import AuditLog
from vigil.privacy.protected_view import protect_frame
from vigil.store.models.camera import MotionEvent

HALF = timedelta(seconds=0.5)
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]


def image(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_timeline_window(clients: dict[str, Client], ctx: ApiContext, footage: Footage) -> None:
    t = footage.start + timedelta(seconds=1)
    with ctx.db.session() as s:
        s.add(MotionEvent(camera="lobby", start=t, end=t + timedelta(seconds=2), peak_area=0.2))
    routing = Routing(review_gap_s=30)
    create_event(ctx.db, camera="lobby", kind="person", start=t, end=t, routing=routing)
    window = {
        "start": (footage.start - timedelta(minutes=1)).isoformat(),
        "end": (footage.end + timedelta(minutes=1)).isoformat(),
    }
    tl = clients["viewer"].get("/api/v1/cameras/lobby/timeline", params=window).json()
    assert len(tl["segments"]) >= 3 and tl["spans"] and tl["gaps"] == []
    assert tl["segments"][0]["url"].endswith("/protected.mp4")  # viewers see people pixelated
    assert [m["peak_area"] for m in tl["motion"]] == [0.2]
    assert [e["kind"] for e in tl["events"]] == ["person"]
    assert [r["objects"] for r in tl["review"]] == [{"person": 1}]
    # A window before anything happened is empty; a reversed one is refused.
    early = {"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T01:00:00Z"}
    empty = clients["viewer"].get("/api/v1/cameras/lobby/timeline", params=early).json()
    assert not any(empty[k] for k in ("segments", "spans", "motion", "events", "review"))
    bad = {"start": window["end"], "end": window["start"]}
    assert clients["viewer"].get("/api/v1/cameras/lobby/timeline", params=bad).status_code == 422


def test_thumbnails(
    clients: dict[str, Client], ctx: ApiContext, footage: Footage, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "/api/v1/cameras/lobby/thumbnail"
    t = (footage.start + HALF).isoformat()
    op, viewer = clients["operator"], clients["viewer"]
    first = op.get(url, params={"t": t})
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert first.headers["x-thumbnail-cache"] == "miss"
    assert first.headers["x-privacy-view"] == "plain"
    plain = image(first.content)
    assert plain.shape[1] == 160 and plain.mean() > 40
    again = op.get(url, params={"t": t})
    assert again.headers["x-thumbnail-cache"] == "hit" and again.content == first.content

    # A protected role (viewer, by default) gets the picture pixelated, never the plain one.
    px = viewer.get(url, params={"t": t})
    assert px.headers["x-privacy-view"] == "protected" and px.content != first.content
    seg = next(s for s in camera_segments(ctx.db, "lobby") if s.start <= footage.start + HALF)
    frame = frame_at(recordings_dir(ctx.data_dir) / seg.path, float(px.headers["x-frame-offset"]))
    diff = np.abs(image(px.content).astype(int) - protect_frame(frame, None).astype(int)).mean()
    assert diff < 4 and np.abs(image(px.content).astype(int) - plain.astype(int)).mean() > 8

    # A privacy mask added later is applied at once (not served from the older cache entry).
    ctx.config.cameras[0].privacy_masks = [LEFT_HALF]
    masked = op.get(url, params={"t": t})
    assert masked.headers["x-thumbnail-cache"] == "miss"
    m = image(masked.content)
    assert m[:, :76].mean() < 8 and m[:, 84:].mean() > 40

    # Audited as recorded viewing (once per user and camera in a few minutes).
    views = AuditLog.from_config(ctx.config).query(ctx.db, action="view_recording")
    assert {v.actor for v in views} == {"operator", "viewer"}

    # Bad instants: nothing recorded then (404), not an instant (422).
    before = (footage.start - timedelta(hours=1)).isoformat()
    assert op.get(url, params={"t": before}).status_code == 404
    assert op.get(url, params={"t": "yesterday"}).status_code == 422
    assert op.get(url, params={"t": "2026-12-01T08:00:00"}).status_code == 422  # no timezone
    assert op.get(url).status_code == 422
    assert op.get("/api/v1/cameras/nope/thumbnail", params={"t": t}).status_code == 404

    # While as many as allowed are being made, another waits a while, then gets a 503.
    monkeypatch.setattr(thumbnails, "WAIT_S", 0.05)
    cache = thumbnail_cache(ctx)
    held = [cache._making.acquire(blocking=False) for _ in range(thumbnails.MAKING_AT_ONCE)]
    later = (footage.start + timedelta(seconds=1.5)).isoformat()
    busy = op.get(url, params={"t": later})
    assert all(held) and busy.status_code == 503 and busy.headers["retry-after"] == "2"
    for _ in held:
        cache._making.release()

    # Footage retention deletes the segment: its thumbnails go with it.
    cached = list(thumbnails_root(ctx.data_dir).glob("lobby/*/*.jpg"))
    assert len(cached) == 3
    seg = next(s for s in camera_segments(ctx.db, "lobby") if str(s.id) == cached[0].parent.name)
    (recordings_dir(ctx.data_dir) / seg.path).unlink()  # gone: retention drops its row
    run_retention(ctx.db, ctx.data_dir, ctx.config.cameras, ctx.config.recording)
    assert not cached[0].parent.exists()
    assert op.get(url, params={"t": t}).status_code == 404
