"""Live H.264 to browsers (MSE), and who may have it.

A camera's `LiveFeed` (`vigil.camera.live_feed`) is one muxer shared by every viewer; here each
HTTP stream is one viewer per camera it shows, its messages framed for the page's player:
`kind` (1 byte: 1 media, 2 reset, 3 end), the camera's index in the request (1 byte), the
payload's length (4 bytes, big-endian), the payload. Several cameras share one connection, so a
16-camera grid holds one of the browser's six HTTP/1.1 connections to the site, not sixteen.

Never a pixel the caller may not see: a camera whose people are pixelated for the caller's role
(`privacy_view`, decision 0049), or one with privacy masks that are not burned into the stream
being sent, is refused (`refusal`) and its viewers keep the processed MJPEG frames. The rule is
asked again every second of a stream, so an unmask that lapses or masks saved meanwhile end
that camera's video at once (an `END` message; the page falls back).
"""

from __future__ import annotations

import asyncio
import struct

from vigil.api.context import ApiContext
from vigil.api.deps import Principal
from vigil.api.privacy_view import is_protected
from vigil.camera.live_feed import Kind
from vigil.config import CameraConfig

HEADER = struct.Struct(">BBI")
MAX_CAMERAS = 16
MAX_PENDING = 300  # messages waiting for a slow client (10 s at 30 fps), then it is dropped


def refusal(ctx: ApiContext, p: Principal, cam: CameraConfig) -> str | None:
    """Why `p` may not have `cam` as H.264 now (a sentence), or None when they may."""
    if is_protected(ctx, p, cam):
        return (
            f"people on {cam.name} are pixelated for the {p.role.value} role: its live view "
            "comes as processed frames (MJPEG)"
        )
    feed = ctx.feeds.feed(cam.name)
    if cam.privacy_masks and not (cam.privacy_masks_burn_in and feed.masked):
        return (
            f"{cam.name} has privacy masks that are not burned into its stream: its live view "
            "comes as masked frames (MJPEG)"
        )
    if feed.codec and feed.codec != "h264":
        return f"{cam.name} sends {feed.codec}, not H.264: its live view comes as MJPEG"
    return None


def frame(kind: Kind, index: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, index, len(payload)) + payload


class QueueViewer:
    """One camera of one HTTP stream: the feed's messages go into the stream's asyncio queue
    (from the demuxing thread, without blocking it). A client that falls `MAX_PENDING`
    messages behind gets an `END` and nothing more."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, index: int):
        self.loop, self.queue, self.index = loop, queue, index
        self.dropped = False

    def send(self, kind: Kind, data: bytes) -> None:
        if self.dropped:
            return
        if self.queue.qsize() > MAX_PENDING:  # a racy read is fine for a limit
            self.dropped = True
            kind, data = Kind.END, b"this viewer fell behind the live stream"
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (self.index, kind, data))
        except RuntimeError:  # the loop is closed: the stream is gone
            self.dropped = True
