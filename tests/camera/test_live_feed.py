"""The live H.264 feed: the recorder's own packets, muxed once into one-frame fMP4 fragments
for every viewer; a stream with new parameters starts over (reset, new init)."""

from __future__ import annotations

import io
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.camera.conftest import wait_for
from vigil.camera.live_feed import Kind, LiveFeed, LiveFeeds
from vigil.camera.recorder import RecordingService
from vigil.config import CameraConfig


class Collect:
    def __init__(self) -> None:
        self.got: list[tuple[Kind, bytes]] = []
        self.lock = threading.Lock()

    def send(self, kind: Kind, data: bytes) -> None:
        with self.lock:
            self.got.append((kind, data))

    def media(self) -> list[bytes]:
        with self.lock:
            return [d for k, d in self.got if k is Kind.MEDIA]


def frames_in(chunks: list[bytes]) -> int:
    with av.open(io.BytesIO(b"".join(chunks)), format="mp4") as c:
        return sum(1 for _ in c.decode(video=0))


def test_the_recorder_feeds_every_viewer_from_its_own_demux(
    h264_file: Path, data_dir: Path
) -> None:
    feeds = LiveFeeds()
    cam = CameraConfig(name="door", url=str(h264_file), loop=True, segment_seconds=2)
    svc = RecordingService([cam], data_dir, None, write_status_file=False, live=feeds)
    early, late = Collect(), Collect()
    feed = feeds.feed("door")
    feed.subscribe(early)
    svc.start()
    try:
        assert wait_for(lambda: len(early.media()) >= 8, 15)
        feed.subscribe(late)  # joins mid-GOP: gets the init and the GOP so far at once
        assert wait_for(lambda: len(early.media()) >= 16 and len(late.media()) >= 4, 15)
        assert not feed.masked and feed.codec == "h264"
    finally:
        svc.stop()
    assert feeds.readers_started == 0  # the recorder's demux is the only one
    assert early.got[-1] == (Kind.END, b"recording stopped")  # and its muxer closed
    a, b = early.media(), late.media()
    assert a[0] == b[0] and a[0][4:8] == b"ftyp"
    assert set(b[1:]) <= set(a[1:])  # the same fragment bytes, muxed once
    assert frames_in(a) >= len(a) - 2  # one frame a fragment (the last waits for the next)
    assert frames_in(b) >= 3  # the late joiner's stream starts at a keyframe


def encoded(width: int, height: int, n: int = 6) -> tuple[av.container.InputContainer, list]:
    """`n` H.264 packets of a `width` x `height` stream, and the container holding its stream."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "bf": "0", "g": "5"}
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), i * 20, np.uint8))
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    buf.seek(0)
    c = av.open(buf)
    return c, list(c.demux(video=0))


def test_new_codec_parameters_start_the_stream_over() -> None:
    feed, viewer = LiveFeed("cam"), Collect()
    feed.subscribe(viewer)
    for width in (160, 320):
        c, packets = encoded(width, 96)
        for pkt in packets:
            if pkt.size:
                feed.push(pkt, c.streams.video[0])
    kinds = [k for k, _ in viewer.got]
    assert kinds.count(Kind.RESET) == 1
    reset = kinds.index(Kind.RESET)
    after = [d for _, d in viewer.got[reset + 1 :]]
    assert after[0][4:8] == b"ftyp" and frames_in(after) >= 4
    feed.end("bye")
    assert viewer.got[-1] == (Kind.END, b"bye") and feed.viewers == 0


def test_nothing_is_muxed_unwatched_yet_a_first_viewer_starts_at_once() -> None:
    """While nobody watches, the packets since the last keyframe are only kept; the first
    viewer gets them muxed at once, from that keyframe. A viewer who leaves mid-GOP leaves the
    muxer running to the next keyframe, where keeping starts again."""
    c, packets = encoded(160, 96, n=12)  # keyframes at 0, 5 and 10
    stream, packets = c.streams.video[0], [p for p in packets if p.size]
    feed = LiveFeed("cam")
    for pkt in packets[:7]:
        feed.push(pkt, stream)
    assert feed.fragments == 0 and not feed.ready  # nothing muxed for nobody
    assert feed.codec == "h264"  # what the API decides on before anyone subscribes

    first = Collect()
    feed.subscribe(first)  # the kept GOP (frames 5 and 6), muxed now
    feed.push(packets[7], stream)
    media = first.media()
    assert media[0][4:8] == b"ftyp" and frames_in(media) == 2  # 5, 6; 7 waits for the next

    feed.unsubscribe(first)
    for pkt in packets[8:10]:  # the GOP the viewer left in is still muxed...
        feed.push(pkt, stream)
    muxed = feed.fragments
    for pkt in packets[10:]:  # ...and at the next keyframe keeping starts again
        feed.push(pkt, stream)
    assert feed.fragments <= muxed + 1 and not feed.ready  # (+1: the muxer's last, at close)

    again = Collect()
    feed.subscribe(again)
    assert again.media()[0][4:8] == b"ftyp" and frames_in(again.media()) == 1  # from frame 10
    feed.end("bye")
