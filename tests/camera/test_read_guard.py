"""A read blocked inside FFmpeg while bytes keep arriving is still ended (decision 0075)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.camera.conftest import MjpegCamera, mjpeg_part, serve_http, wait_for
from vigil.camera.index import camera_segments
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.camera.source import PacketSource, SourceError
from vigil.camera.status import State
from vigil.config import CameraConfig
from vigil.store.db import Database

GOOD_FRAMES = 15  # 1.5 s of video at 10 fps, enough for the open's probe


def _jpeg(i: int) -> bytes:
    img = np.full((120, 160, 3), (i * 15) % 255, np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


class _TricklingCamera(MjpegCamera):
    """Good frames, then a frame that never ends, one byte every 50 ms. FFmpeg's socket
    timeout never fires (the socket is never quiet for long) and no packet ever comes."""

    def parts(self) -> Iterator[bytes]:
        for i in range(GOOD_FRAMES):
            yield mjpeg_part(_jpeg(i))
            time.sleep(0.1)
        yield b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 999999\r\n\r\n"
        while True:
            yield b"\xff"
            time.sleep(0.05)


@pytest.fixture
def trickling_camera() -> Iterator[str]:
    for port in serve_http(_TricklingCamera):
        yield f"http://127.0.0.1:{port}/video.mjpg"


def _read_until_error(src: PacketSource) -> tuple[int, float, str, bool]:
    """Whole frames read, seconds from the last one to the error, the error, whether the guard
    had taken over PyAV's timeout. (The ended read may hand over the never-ending frame's first
    bytes as a packet of its own.)"""
    n, last, armed = 0, time.monotonic(), False
    try:
        for pkt in src.packets():
            armed = src._guard is not None and src._guard.armed
            if pkt.size > 100:
                n, last = n + 1, time.monotonic()
    except SourceError as exc:
        return n, time.monotonic() - last, str(exc), armed
    raise AssertionError("the source ended without an error")


@pytest.mark.timeout(30)
def test_a_read_that_never_returns_a_packet_is_ended(trickling_camera: str) -> None:
    with PacketSource(trickling_camera, io_timeout_s=0.5) as src:
        n, stalled, error, armed = _read_until_error(src)
    assert n >= 5  # the good frames (some went to the open's probe)
    # PyAV's timeout was handed to the guard (no lock per poll; with the field -1, only the
    # guard can end this read) and the guard ended it at its 1 s limit, within the watchdog's
    # poll and FFmpeg's.
    assert armed
    assert 0.9 <= stalled <= 2.5, stalled
    assert "timed out: no data for 1 s" in error  # the limit it was ended at


@pytest.mark.timeout(30)
def test_abort_ends_a_blocked_read_at_once(trickling_camera: str) -> None:
    with PacketSource(trickling_camera, io_timeout_s=5.0) as src:  # read limit 10 s
        started = threading.Event()
        result: list[tuple[int, float, str, bool]] = []

        def read() -> None:
            started.set()
            result.append(_read_until_error(src))

        reader = threading.Thread(target=read)
        reader.start()
        started.wait()
        time.sleep(GOOD_FRAMES * 0.1 + 0.5)  # into the never-ending frame
        assert src._guard is not None and src._guard.armed
        t0 = time.monotonic()
        src.abort()
        reader.join(5)
        assert not reader.is_alive()
        assert time.monotonic() - t0 < 1.0
    assert result and "timed out" in result[0][2]


@pytest.mark.timeout(60)
def test_stop_does_not_wait_out_a_silent_camera(trickling_camera: str, data_dir: Path) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cam = CameraConfig(name="trickle", url=trickling_camera, segment_seconds=60)
    svc = RecordingService([cam], data_dir, db, RecorderOptions(io_timeout_s=5.0))  # 10 s limit
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].state == State.ONLINE, 10), svc.statuses()
        time.sleep(GOOD_FRAMES * 0.1)  # into the never-ending frame
    finally:
        t0 = time.monotonic()
        svc.stop()
        took = time.monotonic() - t0
    assert took < 3.0, took  # the blocked read was ended, not waited out
    assert svc.statuses()[0].state == State.STOPPED
    (seg,) = camera_segments(db, "trickle")
    assert seg.end is not None and seg.end > seg.start  # what came before the stall is kept
