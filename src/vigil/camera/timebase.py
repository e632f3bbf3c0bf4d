"""Time bases of PyAV streams, never None where arithmetic needs one.

PyAV types `Stream.time_base` and `Frame.time_base` as optional: FFmpeg sets a stream's when
the container is opened, a decoded frame's only sometimes. `stream_time_base` returns the
stream's or raises a `MediaError` that names the stream, instead of a `TypeError` from
arithmetic on None further on.
"""

from __future__ import annotations

from fractions import Fraction

import av.stream

from vigil.errors import VigilError


class MediaError(VigilError):
    """A media file or stream lacks what reading it needs (here: a time base)."""


def stream_time_base(stream: av.stream.Stream) -> Fraction:
    """The stream's time base; MediaError when FFmpeg gave it none."""
    tb = stream.time_base
    if tb is None:
        raise MediaError(f"stream #{stream.index} ({stream.type}) has no time base")
    return tb
