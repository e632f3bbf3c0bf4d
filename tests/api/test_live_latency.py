"""Glass to viewer: a live time-coded RTSP camera through analysis, `LiveFrames` and MJPEG.

A correctness check, not a timing benchmark (`vigil bench api --glass` gives the figures): the
time codes a viewer reads back must increase and be recent (a generous bound), and every stage
must have seen frames.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.camera.conftest import _gst_ready
from vigil.bench import live, timecode
from vigil.faces.engine import FaceEngine

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(_gst_ready() is not None, reason=str(_gst_ready()))


def test_time_code_survives_jpeg_and_refuses_a_blurred_frame() -> None:
    gray = np.full((360, 640), 128, np.uint8)
    ms = 1_795_000_123_456
    timecode.draw(gray, ms)
    ok, jpeg = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    back = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    assert timecode.read_time(back, ms / 1000 + 5) == ms / 1000
    # Two frames blended (a frame caught mid-change) read as nothing, never as a wrong time.
    other = np.full((360, 640), 128, np.uint8)
    timecode.draw(other, ms + 1)
    mixed = cv2.addWeighted(gray, 0.5, other, 0.5, 0)
    assert timecode.read_ms32(mixed) is None


def test_glass_to_viewer_codes_increase_and_are_recent(tmp_path: Path, engine: FaceEngine) -> None:
    with (
        live.glass_camera() as url,
        live.glass_site(url, tmp_path / "var", engine, record=False) as site,
    ):
        deadline = time.monotonic() + 15
        while not site.clock.published and time.monotonic() < deadline:
            time.sleep(0.1)
        assert site.clock.published, "analysis published no time-coded frame"
        run = live.measure(site, seconds=4.0, viewers=2)
        seen = live.browser_delays(site, seconds=3.0) if CHROMIUM.exists() else None
        h264 = live.browser_delays(site, 3.0, mse=True) if CHROMIUM.exists() else None
    assert not run.errors
    for codes in run.codes:
        assert len(codes) >= 5, f"only {len(codes)} readable frames in 4 s"
        assert all(b > a for a, b in itertools.pairwise(codes)), codes
    assert run.unreadable <= run.frames // 10
    assert len(run.total) == sum(len(c) for c in run.codes)
    assert min(run.total) > 0, run.total
    assert max(run.total) < 3000, run.total
    # Each stage saw the frames and the stages add up to no more than the whole.
    assert run.camera_to_decoded and run.decoded_to_published and run.published_to_received
    assert min(run.camera_to_decoded) > 0 and min(run.decoded_to_published) >= 0
    assert min(run.published_to_received) >= 0
    assert live.pct(run.published_to_received, 50) < live.pct(run.total, 50)
    # Truly glass to browser: headless Chromium draws the <img> onto a canvas and reads it.
    if seen is not None:
        assert len(seen["delays"]) >= 5, seen
        assert min(seen["delays"]) > 0 and max(seen["delays"]) < 3000, seen
    # The H.264 live view (MSE), played by the UI's own player: every camera frame (15 fps,
    # not the 5 fps analysed), recent.
    if h264 is not None:
        assert not h264["error"], h264
        assert len(h264["delays"]) >= 25, h264
        assert min(h264["delays"]) > 0 and max(h264["delays"]) < 3000, h264
