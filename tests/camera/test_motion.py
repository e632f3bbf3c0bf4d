"""Motion detection on real footage (vtest.avi: people walking), masks, stored events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from vigil.camera.motion import (
    MotionDetector,
    MotionEvents,
    MotionResult,
    analyse_stream,
    motion_events_between,
)
from vigil.config import MotionConfig
from vigil.store.db import Database

WHOLE = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]
LEFT_HALF = [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]
EPOCH = datetime.fromtimestamp(0, UTC)


def run(vtest: Path, masks: list, db: Database | None = None, sensitivity: float = 0.5):
    cfg = MotionConfig(fps=5, sensitivity=sensitivity, masks=masks)
    frames = list(
        analyse_stream(
            "vtest", str(vtest), cfg, db=db, stream_clock=True, pace=False, reconnect=False
        )
    )
    return frames


def test_people_walking_make_stored_motion_events(vtest: Path, data_dir: Path) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    frames = run(vtest, [], db)
    assert 350 <= len(frames) <= 420  # 79.5 s at 5 fps
    moving = [f for f in frames if f.result.moving]
    assert len(moving) > 0.8 * len(frames)  # someone walks through nearly all of it
    assert frames[0].image.shape == (240, 320)  # decoded small and grey
    for f in moving:
        assert 0 < f.result.area < 0.5
        for x, y, w, h in f.result.boxes:
            assert 0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1
    events = motion_events_between(db, "vtest", EPOCH, EPOCH + timedelta(hours=1))
    assert events and all(e.end is not None and e.end >= e.start for e in events)
    assert max(e.peak_area for e in events) > 0.01
    covered = sum((e.end - e.start).total_seconds() for e in events if e.end)
    assert covered > 60


def test_masks_suppress_motion(vtest: Path) -> None:
    assert not any(f.result.moving for f in run(vtest, WHOLE))
    half = run(vtest, LEFT_HALF)
    boxes = [b for f in half for b in f.result.boxes]
    assert boxes, "people walk on the right half too"
    # nothing starts inside the masked half (the dilation that joins blobs reaches ~2%)
    assert min(x for x, _, _, _ in boxes) >= 0.47
    full = run(vtest, [])
    assert any(x + w < 0.45 for f in full for x, _, w, _ in f.result.boxes)


def test_sensitivity_orders_the_motion_found(vtest: Path) -> None:
    def moved(sens: float) -> float:
        return sum(f.result.area for f in run(vtest, [], sensitivity=sens))

    low, high = moved(0.0), moved(1.0)
    assert 0 < low < high


def test_still_scene_noise_and_lights_are_not_motion(vtest: Path) -> None:
    with av.open(str(vtest)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="bgr24")
    rng = np.random.default_rng(0)
    det = MotionDetector(sensitivity=0.8)
    for _ in range(30):  # sensor noise on a still scene
        noisy = first.astype(np.int16) + rng.normal(0, 4, first.shape)
        assert not det.detect(np.clip(noisy, 0, 255).astype(np.uint8)).moving
    lights = det.detect(np.clip(first.astype(np.int16) + 90, 0, 255).astype(np.uint8))
    assert not lights.moving and lights.relearned and not lights.scene_cut
    # a bright square appears: motion, and its box is where the square is (pixels)
    frame = np.clip(first.astype(np.int16) + 90, 0, 255).astype(np.uint8)
    frame[200:300, 400:500] = 0
    boxes = det.regions(frame)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert abs(x - 400) < 25 and abs(y - 200) < 25 and abs(w - 100) < 50 and abs(h - 100) < 50


def test_a_light_change_is_not_a_scene_cut_a_covered_camera_is(vtest: Path) -> None:
    with av.open(str(vtest)) as c:
        frames = [
            f.to_ndarray(format="bgr24") for _, f in zip(range(60), c.decode(video=0), strict=False)
        ]
    first, later = frames[0], frames[59]
    dim = (later * 0.5).astype(np.uint8)
    uneven = (later * np.linspace(0.4, 1.2, later.shape[1])[None, :, None]).clip(0, 255)

    def cut_by(change: np.ndarray) -> bool:
        det = MotionDetector()
        det.regions(first)
        det.regions(change)
        return det.cut

    assert not cut_by(dim)
    assert not cut_by(uneven.astype(np.uint8))  # half the frame changed: motion, not a cut
    assert cut_by(np.zeros_like(first))  # covered
    assert cut_by(np.ascontiguousarray(later[::-1]))  # another picture


def test_events_start_end_and_peak(data_dir: Path) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    ended = []
    ev = MotionEvents("cam", db, start_frames=2, end_after_s=2.0, on_event=ended.append)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    still = MotionResult(0.0)

    def moving(a: float) -> MotionResult:
        return MotionResult(a, [(0.1, 0.1, 0.2, 0.2)])

    seq = [still, moving(0.1), still, moving(0.05), moving(0.2), moving(0.1), still, still]
    seq += [still] * 10 + [moving(0.3), moving(0.3)]
    for i, r in enumerate(seq):
        ev.update(t0 + timedelta(seconds=i * 0.5), r)
        if i == 4:  # a row exists, still open, while motion lasts
            (row,) = motion_events_between(db, "cam", t0, t0 + timedelta(hours=1))
            assert row.end is None
    ev.finish()
    assert len(ended) == 2  # a single moving frame is not an event
    first = ended[0]
    assert first.start == t0 + timedelta(seconds=1.5) and first.end == t0 + timedelta(seconds=2.5)
    assert first.peak_area == pytest.approx(0.2)
    rows = motion_events_between(db, "cam", t0, t0 + timedelta(hours=1))
    assert [(r.start, r.end, r.peak_area) for r in rows] == [
        (e.start, e.end, pytest.approx(e.peak_area)) for e in ended
    ]
