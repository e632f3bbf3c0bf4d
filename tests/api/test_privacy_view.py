"""Privacy-protected viewing (issue 7): viewers get people pixelated, live and recorded;
a user with the unmask grant reveals them for a reason (audited) for a bounded time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.api.conftest import Footage
from tests.api.helpers import Client
from vigil.api import ApiContext, accounts
from vigil.api.privacy_view import grants_of
from vigil.camera.motion import MotionDetector
from vigil.camera.source import analysis_frames
from vigil.cli import app
from vigil.errors import VigilError
from vigil.events.store import create_event
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.pipeline.analyzer import CameraAnalyzer
from vigil.pipeline.service import _NoMatcher
from vigil.privacy.audit import AuditLog
from vigil.vision.person import HogPersonDetector

Box = tuple[float, float, float, float]


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def flat_map(img: np.ndarray) -> np.ndarray:
    """Per pixel: its right and lower neighbours are within 3 grey levels of it. Mostly true
    inside pixelation cells, much less where the picture has its own detail."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.int16)
    flat = np.zeros(g.shape, bool)
    flat[:-1, :-1] = (np.abs(np.diff(g, axis=1))[:-1] < 3) & (
        np.abs(np.diff(g, axis=0))[:, :-1] < 3
    )
    return flat[:-1, :-1]


def flat_share(img: np.ndarray) -> float:
    return float(flat_map(img).mean())


def crop(img: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = (int(v) for v in box)
    return img[max(0, y) : y + h, max(0, x) : x + w]


def publish_person_frame(ctx: ApiContext, footage: Footage, engine: FaceEngine) -> Box:
    """Run the real analyzer over the footage until it tracks a person, publish that frame
    with the analyzer's people boxes (as `vigil serve` does) and return the person's box."""
    analyzer = CameraAnalyzer(
        "lobby",
        engine,
        _NoMatcher(Calibration.default(engine.model_name)).get(),
        HogPersonDetector(),
        MotionDetector(),
    )
    for f in analysis_frames(str(footage.video), fps=10, max_width=640):
        analyzer.process(f.image, f.wall_time)
        people = [t for t in analyzer.people.tracks if t.hits >= 2 and t.last_seen == f.wall_time]
        if people:
            box = max(people, key=lambda t: t.box[2] * t.box[3]).box
            assert analyzer.last_image is not None
            ctx.live.publish_image("lobby", analyzer.last_image, people=analyzer.people_boxes())
            return box
    pytest.fail("the analyzer tracked no person in the footage")


def test_live_view_pixelates_people_for_viewers(
    clients: dict[str, Client], ctx: ApiContext, footage: Footage, engine: FaceEngine
) -> None:
    box = publish_person_frame(ctx, footage, engine)
    seen = clients["viewer"].get("/api/v1/cameras/lobby/snapshot.jpg")
    plain = clients["operator"].get("/api/v1/cameras/lobby/snapshot.jpg")
    assert seen.headers["x-privacy-view"] == "protected"
    assert plain.headers["x-privacy-view"] == "plain"
    assert plain.content == ctx.live.latest("lobby").jpeg  # type: ignore[union-attr]
    a, b = decode(seen.content), decode(plain.content)
    assert a.shape == b.shape
    person_a, person_b = crop(a, box), crop(b, box)
    assert float(np.abs(person_a.astype(int) - person_b.astype(int)).mean()) > 8
    assert flat_share(person_a) > flat_share(person_b) + 0.25
    # The rendition is made once per frame: a second viewer request gets the same bytes.
    again = clients["viewer"].get("/api/v1/cameras/lobby/snapshot.jpg")
    assert again.content == seen.content
    # The MJPEG stream sends a protected viewer the pixelated frame, the first one included.
    threading.Timer(0.8, ctx.live.close).start()
    with clients["viewer"].stream("GET", "/api/v1/cameras/lobby/live.mjpeg") as r:
        body = b"".join(r.iter_bytes())
    assert seen.content in body and plain.content not in body


def test_unknown_people_pixelate_the_whole_frame_and_cameras_can_opt_out(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 255, (360, 640, 3), np.uint8)
    ctx.live.publish_image("lobby", noisy)  # people not looked for
    seen = decode(clients["viewer"].get("/api/v1/cameras/lobby/snapshot.jpg").content)
    plain = decode(clients["operator"].get("/api/v1/cameras/lobby/snapshot.jpg").content)
    assert flat_share(seen) > 0.8 and flat_share(plain) < 0.1
    # An event's snapshot (a crop around the person) is pixelated whole for the viewer.
    crop_jpeg = ctx.live.latest("lobby").jpeg  # type: ignore[union-attr]
    e = create_event(
        ctx.db,
        camera="lobby",
        kind="person",
        start=datetime.now(UTC),
        snapshot_jpeg=crop_jpeg,
        data_dir=ctx.data_dir,
    )
    snap_url = f"/api/v1/events/{e.uid}/snapshot.jpg"
    assert flat_share(decode(clients["viewer"].get(snap_url).content)) > 0.8
    assert clients["operator"].get(snap_url).content == crop_jpeg
    ctx.config.cameras[0].privacy_view.protected_roles = []  # this camera opted out
    r = clients["viewer"].get("/api/v1/cameras/lobby/snapshot.jpg")
    assert r.headers["x-privacy-view"] == "plain"
    seg = clients["viewer"].get("/api/v1/cameras/lobby/recordings").json()["segments"][0]
    assert clients["viewer"].get(seg["url"]).status_code == 200
    assert clients["viewer"].get(snap_url).content == crop_jpeg


def test_recorded_playback_is_pixelated_for_viewers(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    v, op = clients["viewer"], clients["operator"]
    seg = v.get("/api/v1/cameras/lobby/recordings").json()["segments"][0]
    assert seg["url"].endswith(f"/segments/{seg['id']}/protected.mp4")
    plain_url = f"/api/v1/cameras/lobby/segments/{seg['id']}.mp4"
    r = v.get(plain_url)
    assert r.status_code == 403 and "pixelated for the viewer role" in r.json()["detail"]
    assert op.get("/api/v1/cameras/lobby/recordings").json()["segments"][0]["url"] == plain_url
    t0 = time.monotonic()
    r = v.get(seg["url"])
    made_s = time.monotonic() - t0
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4", r.text
    part = v.get(seg["url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert op.get(seg["url"]).content == r.content  # cached: made once
    original = frames_of(ctx, op.get(plain_url).content, "orig")
    protected = frames_of(ctx, r.content, "prot")
    assert len(protected) == len(original) >= 10
    # Where people move (large difference between frames of the original), the rendition has
    # lost its detail; elsewhere it is close to the original.
    i = len(original) // 2
    moving = cv2.absdiff(original[i], original[i - 3]).max(axis=2) > 40
    moving = cv2.dilate(moving.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert moving.mean() > 0.005, "no movement in the footage"
    flat_p, flat_o = flat_map(protected[i]), flat_map(original[i])
    inside = moving[:-1, :-1]
    assert flat_p[inside].mean() > flat_o[inside].mean() + 0.2
    still = ~cv2.dilate(moving.astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)
    diff = np.abs(protected[i].astype(int) - original[i].astype(int)).max(axis=2)
    assert np.median(diff[still]) < 12
    print(f"rendition of a {len(original)}-frame segment made in {made_s:.2f} s")


def frames_of(ctx: ApiContext, data: bytes, name: str) -> list[np.ndarray]:
    path = ctx.data_dir / f"{name}.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def test_unmask_needs_permission_and_reason_is_audited_and_expires(
    clients: dict[str, Client], ctx: ApiContext, footage: Footage, engine: FaceEngine
) -> None:
    v, admin = clients["viewer"], clients["admin"]
    publish_person_frame(ctx, footage, engine)
    url = "/api/v1/cameras/lobby/unmask"
    r = v.post(url, json={"reason": "incident 42: broken window"})
    assert r.status_code == 403 and "may not reveal people" in r.json()["detail"]
    state = v.get("/api/v1/cameras/lobby/view").json()
    assert state["protected"] and not state["can_unmask"] and state["unmasked_until"] is None

    users = {u["username"]: u for u in admin.get("/api/v1/users").json()}
    r = admin.patch(f"/api/v1/users/{users['viewer']['id']}", json={"can_unmask": True})
    assert r.status_code == 200 and r.json()["user"]["can_unmask"] is True
    assert v.get("/api/v1/cameras/lobby/view").json()["can_unmask"]  # same session goes on
    assert "unmask" in v.get("/api/v1/auth/me").json()["permissions"]

    for bad in ({}, {"reason": ""}, {"reason": " x "}):
        r = v.post(url, json=bad)
        assert r.status_code == 422, bad
    assert v.get("/api/v1/cameras/lobby/snapshot.jpg").headers["x-privacy-view"] == "protected"

    before = time.time()
    r = v.post(url, json={"reason": "incident 42: broken window"})
    assert r.status_code == 200, r.text
    state = r.json()
    assert not state["protected"] and state["protected_role"]
    until = datetime.fromisoformat(state["unmasked_until"]).timestamp()
    assert before + 9.9 * 60 < until < time.time() + 10 * 60 + 1
    snap = v.get("/api/v1/cameras/lobby/snapshot.jpg")
    assert snap.headers["x-privacy-view"] == "plain"
    assert snap.content == ctx.live.latest("lobby").jpeg  # type: ignore[union-attr]
    seg = v.get("/api/v1/cameras/lobby/recordings").json()["segments"][0]
    assert seg["url"].endswith(".mp4") and "protected" not in seg["url"]
    assert v.get(seg["url"]).status_code == 200
    records = AuditLog.from_config(ctx.config).query(ctx.db, action="unmask_view")
    assert len(records) == 1
    rec = records[0]
    assert (rec.actor, rec.camera, rec.reason) == ("viewer", "lobby", "incident 42: broken window")

    # Another session of the same user is still protected: the grant is per session.
    other = Client(v.app).login("viewer")
    assert other.get("/api/v1/cameras/lobby/view").json()["protected"]

    # Withdrawing the permission ends the plain view at once; giving it back restores it.
    viewer_url = f"/api/v1/users/{users['viewer']['id']}"
    admin.patch(viewer_url, json={"can_unmask": False})
    assert v.get("/api/v1/cameras/lobby/snapshot.jpg").headers["x-privacy-view"] == "protected"
    admin.patch(viewer_url, json={"can_unmask": True})
    assert v.get("/api/v1/cameras/lobby/snapshot.jpg").headers["x-privacy-view"] == "plain"

    # The grant ends on its own.
    grants_of(ctx).clock = lambda: time.time() + 10 * 60 + 1
    assert v.get("/api/v1/cameras/lobby/snapshot.jpg").headers["x-privacy-view"] == "protected"
    assert v.get(seg["url"]).status_code == 403
    assert v.get("/api/v1/cameras/lobby/view").json()["unmasked_until"] is None

    # Roles not protected on the camera have nothing to reveal; the grant can be withdrawn.
    assert admin.get("/api/v1/cameras/lobby/view").json()["can_unmask"]  # admins always may
    r = admin.post(url, json={"reason": "checking"})
    assert r.status_code == 409 and "not pixelated" in r.json()["detail"]
    admin.patch(f"/api/v1/users/{users['viewer']['id']}", json={"can_unmask": False})
    assert v.post(url, json={"reason": "incident 42"}).status_code == 403
    assert len(AuditLog.from_config(ctx.config).query(ctx.db, action="unmask_view")) == 1


def test_cli_grants_and_withdraws_unmasking(ctx: ApiContext, tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"storage:\n  data_dir: {ctx.data_dir}\n")
    run = CliRunner().invoke
    res = run(app, ["-c", str(cfg), "users", "unmask", "viewer"])
    assert res.exit_code == 0, res.output
    assert "viewer may now reveal" in res.output
    assert "(may unmask)" in run(app, ["-c", str(cfg), "users", "list"]).output
    assert {a.username: a.can_unmask for a in accounts.list_users(ctx.db)}["viewer"]
    res = run(app, ["-c", str(cfg), "users", "unmask", "viewer", "--revoke"])
    assert res.exit_code == 0 and "may no longer" in res.output
    assert not {a.username: a.can_unmask for a in accounts.list_users(ctx.db)}["viewer"]
    changes = AuditLog.from_config(ctx.config).query(ctx.db, action="change_user")
    assert [c.details["can_unmask"] for c in changes] == ["False", "True"]  # newest first
    res = run(app, ["-c", str(cfg), "users", "unmask", "nobody"])
    assert isinstance(res.exception, VigilError)  # printed as one line by the CLI's main
    assert "no user named 'nobody'" in str(res.exception)
