"""Camera health on generated footage (vtest.avi: a real street with people walking, turned
into a clip that is covered, blurred, turned by 20%, frozen, left dark, and lit differently):
each fault raised once near its start and cleared after it, and nothing else raised."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from vigil.camera.health import HealthChange, PictureHealth, PictureMeasures, StreamHealth
from vigil.camera.source import analysis_frames
from vigil.camera.status import CameraStatus
from vigil.config import HealthConfig
from vigil.demo.tamper import TamperClip, tamper_clip
from vigil.store.enums import HealthCondition as C

# short times so the 144 s clip shows every fault; "moved" after only 2 s, so a person in
# front of the camera for two frames running would raise it
FAST = HealthConfig(
    covered_after_s=3,
    dark_after_s=3,
    blur_after_s=3,
    moved_after_s=2,
    frozen_after_s=3,
    clear_after_s=2,
)


@dataclass
class Run:
    clip: TamperClip
    changes: list[HealthChange]
    measures: list[tuple[float, PictureMeasures]]

    def raised(self, condition: C) -> list[HealthChange]:
        return [c for c in self.changes if c.condition is condition and c.started]

    def cleared(self, condition: C) -> list[HealthChange]:
        return [c for c in self.changes if c.condition is condition and not c.started]

    def during(self, kind: str) -> list[PictureMeasures]:
        spans = [(a, b) for a, b, k in self.clip.spans if k == kind]
        return [m for t, m in self.measures if any(a + 1 <= t < b for a, b in spans)]


@pytest.fixture(scope="module")
def run(vtest: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    clip = tamper_clip(tmp_path_factory.mktemp("tamper") / "tamper.mp4", vtest)
    health = PictureHealth("street", FAST)
    changes: list[HealthChange] = []
    measures: list[tuple[float, PictureMeasures]] = []
    # the analysis decoder's frames, as live analysis gets them (2 fps, 960 px at most)
    for f in analysis_frames(str(clip.path), fps=2, max_width=960, pace=False, reconnect=False):
        changes += health.observe(f.pts_seconds, f.image)
        assert health.last is not None
        measures.append((f.pts_seconds, health.last))
    return Run(clip, changes, measures)


@pytest.mark.parametrize("condition", [C.covered, C.blurred, C.moved, C.frozen, C.dark])
def test_each_fault_is_raised_once_at_its_start_and_cleared_after_it(
    run: Run, condition: C
) -> None:
    start, end = run.clip.span(condition.value)
    (raised,) = run.raised(condition)
    (cleared,) = run.cleared(condition)
    assert start - 0.6 <= raised.at <= start + 1.0  # the event starts when the fault began
    assert end <= cleared.at <= end + FAST.clear_after_s + 1.0
    assert raised.measures and cleared.measures


def test_nothing_else_is_raised(run: Run) -> None:
    """One raise and one clear per fault; normal footage and light changes raise nothing."""
    assert len(run.changes) == 10, [(c.condition.value, c.started, c.at) for c in run.changes]


def test_people_walking_past_do_not_look_like_a_moved_camera(run: Run) -> None:
    normal = run.during("normal")
    assert len(normal) > 100
    shares = [m.moved_share for m in normal if m.moved_share is not None]
    assert max(shares) < FAST.moved_share / 2  # far from the threshold
    moved = run.during("moved")
    assert min(m.moved_share or 0 for m in moved) >= FAST.moved_share


def test_a_light_change_is_not_moved_blurred_or_dark(run: Run) -> None:
    lit = run.during("light")
    assert len(lit) > 15
    assert max(m.moved_share or 1 for m in lit) < FAST.moved_share / 2
    assert min(m.sharpness_ratio or 0 for m in lit) > FAST.blur_ratio
    assert min(m.mean for m in lit) > FAST.dark_mean


def test_a_blurred_picture_is_blurred_not_moved(run: Run) -> None:
    soft = run.during("blurred")
    assert max(m.sharpness_ratio or 1 for m in soft) < FAST.blur_ratio
    assert not run.raised(C.moved)[0].at < run.clip.span("blurred")[1]


def test_a_restart_continues_an_open_alarm_instead_of_raising_it_again() -> None:
    health = PictureHealth("cam", FAST, active={C.covered})
    black = np.zeros((288, 384, 3), np.uint8)
    assert health.observe(0.0, black) == [] and health.observe(10.0, black) == []
    street = np.random.default_rng(1).integers(0, 255, (288, 384, 3), np.uint8)
    assert health.observe(11.0, street) == []
    (cleared,) = health.observe(13.5, street)
    assert cleared.condition is C.covered and not cleared.started


def _status(fps: float | None, kbps: float | None, *, online: bool = True) -> CameraStatus:
    return CameraStatus(
        "gate", "rtsp://cam", online=online, recording=online, fps=fps, bitrate_kbps=kbps
    )


def test_frame_rate_or_bitrate_collapse_and_recording_gaps() -> None:
    cfg = HealthConfig(stream_after_s=6, gap_after_s=6, clear_after_s=3)
    watch = StreamHealth("gate", cfg, recorded=True)
    changes: list[HealthChange] = []
    script = [(15.0, 2000.0)] * 20 + [(4.0, 1900.0)] * 5 + [(15.0, 2000.0)] * 3  # a dip < 6 s
    script += [(15.0, 200.0)] * 10 + [(15.0, 2000.0)] * 5  # the bitrate collapses
    t = 0.0
    for fps, kbps in script:
        changes += watch.observe(t, _status(fps, kbps))
        t += 1.0
    assert [(c.condition, c.started) for c in changes] == [
        (C.stream_collapse, True),
        (C.stream_collapse, False),
    ]
    assert changes[0].at == 28.0 and changes[0].measures["bitrate_kbps"] == 200.0
    assert watch.usual_fps == pytest.approx(15.0, abs=2)  # the dip did not teach it
    for _ in range(8):  # the camera goes offline: nothing recorded
        changes += watch.observe(t, _status(None, None, online=False))
        t += 1.0
    assert (changes[-1].condition, changes[-1].started) == (C.recording_gap, True)
    not_recorded = StreamHealth("hall", cfg, recorded=False)
    offline = _status(None, None, online=False)
    assert not any(not_recorded.observe(float(i), offline) for i in range(9))
