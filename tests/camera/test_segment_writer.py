"""SegmentWriter alone: what reaches the file, and when."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import av

from vigil.camera.index import probe_segment
from vigil.camera.segment import SegmentWriter


def test_each_fragment_is_in_the_file_once_its_keyframe_is_muxed(
    h264_file: Path, tmp_path: Path
) -> None:
    """A kill -9 right after any keyframe keeps every frame before it, whatever the write
    buffer size; and the writer's own figures match the file."""
    root = tmp_path / "rec"
    with av.open(str(h264_file)) as src:
        vs = src.streams.video[0]
        writer = SegmentWriter(root, "cam", datetime.now(UTC), vs, db=None)
        written = 0
        checked = 0
        for pkt in src.demux(vs):
            if pkt.size == 0:
                continue
            key = pkt.is_keyframe
            writer.write(pkt)
            written += 1
            if key and written > 1:
                copy = tmp_path / "at-keyframe.mp4"
                shutil.copyfile(writer.path, copy)  # what a kill -9 now would leave
                assert probe_segment(copy).packets == written - 1
                checked += 1
        info = writer.close()
    assert checked >= 3
    probe = probe_segment(writer.path)
    assert probe.packets == written
    assert info.keyframes == probe.keyframes
    assert abs((info.end - info.start).total_seconds() - probe.duration) < 0.11
    assert writer.durable_s == info.keyframes[-1]
