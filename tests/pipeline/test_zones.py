"""Zones: a machine's running / idle time line from real video; doorway counts and
restricted-area alerts from person tracks."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.camera.motion import MotionDetector
from vigil.camera.source import analysis_frames
from vigil.config import ZoneConfig
from vigil.events.store import store_draft
from vigil.faces.calibration import Calibration
from vigil.faces.matcher import Matcher, NumpyIndex
from vigil.pipeline.analyzer import CameraAnalyzer
from vigil.pipeline.tracker import Tracker
from vigil.pipeline.zone_report import zone_day
from vigil.pipeline.zones import ZoneMonitor
from vigil.store.db import Database
from vigil.vision.person import HogPersonDetector
from vigil.vision.video import Mp4Writer

MACHINE = ZoneConfig(
    name="press",
    kind="machine",
    polygon=[(0.5, 0.2), (0.9, 0.2), (0.9, 0.8), (0.5, 0.8)],
    smoothing_s=2.0,
)


@pytest.fixture(scope="module")
def machine_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s at 10 fps: a wheel turns inside the zone for 0-10 s and 20-30 s, still in between."""
    path = tmp_path_factory.mktemp("zones") / "machine.mp4"
    rng = np.random.default_rng(0)
    background = rng.integers(90, 110, (360, 640, 3), np.uint8)
    with Mp4Writer(path, 10) as out:
        for i in range(300):
            frame = background.copy()
            t = i / 10
            angle = t * 3 if (t < 10 or t >= 20) else 30.0  # frozen at one angle when idle
            cx, cy = 450, 180
            for k in range(4):
                a = angle + k * np.pi / 2
                end = (int(cx + 90 * np.cos(a)), int(cy + 90 * np.sin(a)))
                cv2.line(frame, (cx, cy), end, (20, 20, 200), 14)
            out.write(frame)
    return path


def test_machine_time_line_from_video(machine_clip: Path, engine, data_dir: Path) -> None:
    matcher = Matcher(NumpyIndex(128), {}, {}, Calibration.default(engine.model_name))
    analyzer = CameraAnalyzer(
        "line1", engine, matcher, HogPersonDetector(), MotionDetector(), zones=[MACHINE]
    )
    ten_am = datetime(2026, 11, 27, 10, 0).astimezone().timestamp()
    events = []
    for f in analysis_frames(str(machine_clip), fps=5, reconnect=False, pace=False):
        events += analyzer.process(f.image, ten_am + f.pts_seconds)
    events += analyzer.finish()
    # Stored and reported like `vigil serve` and `vigil report zones` do.
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    for e in events:
        store_draft(db, e, data_dir=data_dir)
    report = zone_day(db, "line1", date(2026, 11, 27))
    minutes = report.minutes("press")
    assert abs(minutes["running"] * 60 - 20) <= 3 and abs(minutes["idle"] * 60 - 10) <= 3
    line = [
        (e.details["state"], round(e.start - ten_am), round(e.end - ten_am))
        for e in events
        if e.zone == "press"
    ]
    states = [s for s, _, _ in line]
    assert states == ["running", "idle", "running"], line
    (_, r1s, r1e), (_, _, i_e), (_, _, r2e) = line
    assert r1s <= 2 and abs(r1e - 10) <= 1 and abs(i_e - 20) <= 1 and r2e >= 29


def track(tid: int, box, t: float) -> object:
    tr = Tracker(dict).update([box], t)[0][0]
    tr.id = tid
    return tr


def test_doorway_counts_in_and_out() -> None:
    door = ZoneConfig(
        name="door",
        kind="doorway",
        polygon=[(0.4, 0.3), (0.6, 0.3), (0.6, 0.7), (0.4, 0.7)],
        inward="up",
    )
    monitor = ZoneMonitor([door], (1000, 1000))
    out = []
    # Person 1 walks up through the door (feet from y=800 to y=200); person 2 walks down;
    # person 3 steps in and back out.
    for step in range(13):
        t = step * 0.5
        people = [
            track(1, (480, 800 - 50 * step - 100, 40, 100), t),
            track(2, (500, 200 + 50 * step - 100, 40, 100), t),
            track(3, (450, (650 if step % 4 < 2 else 750) - 100, 40, 100), t),
        ]
        out += monitor.update(1e9 + t, None, people)
    assert sorted((h.track_id, h.what) for h in out) == [(1, "in"), (2, "out")]


def test_restricted_zone_alerts_once_outside_hours() -> None:
    lab = ZoneConfig(
        name="lab",
        kind="restricted",
        polygon=[(0, 0), (1, 0), (1, 1), (0, 1)],
        allowed_hours="07:00-19:00",
    )
    monitor = ZoneMonitor([lab], (100, 100))
    night = datetime(2026, 11, 28, 23, 30).astimezone().timestamp()
    day = datetime(2026, 11, 28, 12, 0).astimezone().timestamp()
    assert monitor.update(day, None, [track(7, (10, 10, 10, 20), 0)]) == []
    alerts = []
    for k in range(5):
        alerts += monitor.update(night + k, None, [track(8, (10, 10, 10, 20), 0)])
    assert [(a.track_id, a.what) for a in alerts] == [(8, "intrusion")]


def machine_line(
    moving: list[tuple[float, float]], seconds: float, stroke: int = 1, **zone
) -> list[tuple]:
    """Feed a machine zone 5 fps of frames whose pixels change inside `moving` spans, every
    `stroke`th frame (a still frame between strokes)."""
    press = ZoneConfig(name="press", kind="machine", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)])
    monitor = ZoneMonitor([press.model_copy(update=zone)], (64, 48))
    out = []
    for i in range(int(seconds * 5) + 1):
        t = i / 5
        on = any(a <= t < b for a, b in moving)
        image = np.full((48, 64), 200 if on and (i // stroke) % 2 else 50, np.uint8)
        out += monitor.update(t, image, [])
    out += monitor.finish()
    return [(h.what, round(h.start, 1), round(h.end, 1)) for h in out]


def test_machine_defaults_show_every_idle_period_of_ten_seconds() -> None:
    # Running 0-40 and 52-100, idle 40-52 (12 s): shown, with its true edges, by default.
    line = machine_line([(0, 40), (52, 100)], 110)
    assert line == [
        ("running", 0.2, 40.0),
        ("idle", 40.0, 52.2),
        ("running", 52.2, 100.0),
        ("idle", 100.0, 110.0),
    ]


def test_machine_hides_pauses_and_bursts_shorter_than_smoothing() -> None:
    # Strokes with a still frame between them are running; a 4 s pause between cycles stays
    # running; a 3 s burst (someone passing) stays idle.
    line = machine_line([(20, 30), (34, 60), (80, 83)], 100, stroke=2, smoothing_s=8)
    assert line == [("idle", 0.2, 20.4), ("running", 20.4, 60.0), ("idle", 60.0, 100.0)]


def test_occupancy_counts_confirmed_people_inside_each_zone() -> None:
    door = ZoneConfig(
        name="door", kind="doorway", polygon=[(0.4, 0.3), (0.6, 0.3), (0.6, 0.7), (0.4, 0.7)]
    )
    monitor = ZoneMonitor([door, MACHINE], (1000, 1000))
    tracker = Tracker(dict)
    for step in range(10):  # two people stand in the doorway, one beside it, for 4.5 s
        t = step * 0.5
        boxes = [(410, 500, 40, 100), (440, 500, 40, 100), (100, 500, 40, 100)]
        monitor.update(t, None, tracker.update(boxes, t)[0])
    assert monitor.occupancy == {"door": 2, "press": 0}
    assert monitor.peak == {"door": 2, "press": 0}
    assert monitor.person_s["door"] == pytest.approx(2 * 4.0)  # counted from the second sighting


def test_doorway_counts_once_when_the_detector_loses_someone_inside() -> None:
    door = ZoneConfig(
        name="door",
        kind="doorway",
        polygon=[(0.4, 0.3), (0.6, 0.3), (0.6, 0.7), (0.4, 0.7)],
        inward="up",
    )
    monitor = ZoneMonitor([door], (1000, 1000))
    out, t = [], 0.0
    # Walking up: track 1 (feet 800 -> 480), lost for 1 s, track 2 (feet 440 -> 200).
    for feet in range(800, 479, -40):
        last = track(1, (480, feet - 100, 40, 100), t)
        out += monitor.update(1e9 + t, None, [last])
        t += 0.5
    t += 1.0
    last.last_seen += 1e9
    for feet in range(440, 199, -40):
        out += monitor.update(1e9 + t, None, [track(2, (480, feet - 100, 40, 100), t)])
        if feet == 360:  # the tracker gives up on track 1 while track 2 goes on
            out += monitor.tracks_ended([last])
        t += 0.5
    # Someone else walks in and vanishes through the door (their track ends inside).
    for feet in range(800, 399, -40):
        gone = track(3, (480, feet - 100, 40, 100), t)
        out += monitor.update(1e9 + t, None, [gone])
        t += 0.5
    gone.last_seen += 1e9
    out += monitor.tracks_ended([gone])
    for _ in range(10):
        out += monitor.update(1e9 + t, None, [])
        t += 0.5
    assert [(h.what, h.track_id) for h in out] == [("in", 2), ("in", 3)]
