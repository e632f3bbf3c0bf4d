"""The recorder's copy loop in C (`copy_loop.c`, decision 0079), as a source the recorder drives.

A `NativeSource` reads one RTSP camera with the system's FFmpeg and muxes its packets into the
open segment without the interpreter: `next()` returns only at a keyframe, a timestamp step,
the end or an error (and, while a live view is watched, at every packet). A
`NativeSegmentWriter` is a `SegmentWriter` whose muxer is that loop: the bytes still go
through the same `WholeWrites` (whole writes, SHA-256, disk full as `StorageError`).

The library is built on first use (`vigil.compiled`, or `make install` ahead of time); where it
cannot be (no compiler, no `libavformat-dev`), `library()` answers None once with the reason
logged, and the recorder keeps its PyAV loop.
"""

from __future__ import annotations

import ctypes
import errno
import io
import logging
import os
import threading
import time
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from vigil.camera.segment import (
    MOVFLAGS,
    SegmentWriter,
    StorageError,
    WholeWrites,
    describe_storage_error,
)
from vigil.camera.source import (
    SourceError,
    SourceKind,
    StreamInfo,
    describe_error,
    describe_open_failure,
    read_timeout_s,
    redact_url,
)
from vigil.compiled import build_c
from vigil.errors import VigilError

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("copy_loop.c")
LIBS = ["libavformat", "libavcodec", "libavutil"]
# The live view needs a PyAV stream like the camera's: one is read from the parameter sets and
# a keyframe by FFmpeg's raw demuxer, which exists for these.
CODECS = {"h264": "h264", "hevc": "hevc"}

KEYFRAME, STEP, PACKET, END, ERROR, STOPPED, WRITE_FAILED, WRITTEN = range(1, 9)
NO_VIDEO = 1
EIO = -errno.EIO
AVSEEK_SIZE, AVSEEK_FORCE = 0x10000, 0x20000


class _Camera(ctypes.Structure):
    """`vcl_camera` of copy_loop.c, field for field."""

    _fields_ = [
        ("open_timeout_s", ctypes.c_double),
        ("read_timeout_s", ctypes.c_double),
        ("watchdog_s", ctypes.c_double),
        ("max_backstep_s", ctypes.c_double),
        ("max_jump_s", ctypes.c_double),
        ("max_drift_s", ctypes.c_double),
        ("tcp", ctypes.c_int32),
        ("hold_gop", ctypes.c_int32),
        ("stop", ctypes.c_int32),
        ("per_packet", ctypes.c_int32),
        ("anchored", ctypes.c_int32),
        ("live_epoch", ctypes.c_int32),
        ("anchor_at", ctypes.c_double),
        ("anchor_ts", ctypes.c_double),
        ("codec", ctypes.c_char * 32),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("tb_num", ctypes.c_int32),
        ("tb_den", ctypes.c_int32),
        ("fps", ctypes.c_double),
        ("last_packet_at", ctypes.c_double),
        ("last_keyframe_at", ctypes.c_double),
        ("frames", ctypes.c_int64),
        ("bytes", ctypes.c_int64),
        ("ts", ctypes.c_double),
        ("step", ctypes.c_double),
        ("drift", ctypes.c_double),
        ("pts", ctypes.c_int64),
        ("dts", ctypes.c_int64),
        ("data", ctypes.c_void_p),
        ("size", ctypes.c_int32),
        ("key", ctypes.c_int32),
        ("end_s", ctypes.c_double),
        ("packets", ctypes.c_int64),
        ("dts_fixed", ctypes.c_int64),
        ("error", ctypes.c_int32),
        ("_pad1", ctypes.c_int32),
        ("priv", ctypes.c_void_p),
    ]


_P = ctypes.POINTER(_Camera)
WRITE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
SEEK_FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int)

_lock = threading.Lock()
_library: ctypes.CDLL | None = None
_unavailable: str | None = None


def load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))  # RTLD_LOCAL: its FFmpeg never meets PyAV's
    lib.vcl_camera_size.restype = ctypes.c_int
    if lib.vcl_camera_size() != ctypes.sizeof(_Camera):
        raise VigilError(f"{path.name} does not match copy_loop.py (struct size differs)")
    lib.vcl_new.restype = _P
    lib.vcl_open.argtypes = [_P, ctypes.c_char_p]
    lib.vcl_next.argtypes = [_P]
    lib.vcl_extradata.argtypes = [_P, ctypes.POINTER(ctypes.c_void_p)]
    lib.vcl_segment_begin.argtypes = [_P, ctypes.c_char_p, ctypes.c_char_p, WRITE_FN, SEEK_FN]
    lib.vcl_segment_end.argtypes = [_P]
    lib.vcl_close.argtypes = [_P]
    lib.vcl_close.restype = None
    return lib


def library() -> ctypes.CDLL | None:
    """The built copy loop, or None (the reason logged once) where it cannot be built."""
    global _library, _unavailable
    with _lock:
        if _library is None and _unavailable is None:
            try:
                _library = load(build_c(SOURCE, LIBS, shared=True))
                log.info("recording RTSP cameras with the C copy loop (decision 0079)")
            except (VigilError, OSError) as exc:
                hint = getattr(exc, "hint", None)
                _unavailable = f"{exc}{f' ({hint})' if hint else ''}"
                log.warning("recording with the PyAV copy loop: %s", _unavailable)
        return _library


def supports(kind: SourceKind) -> bool:
    """Can the C loop record this source? (RTSP; the codec is checked once connected.)"""
    return kind is SourceKind.RTSP and library() is not None


class NativeSource:
    """One connection to an RTSP camera, read and muxed by the C loop. Used by one thread;
    `abort()` and `want_packets()` from any."""

    kind = SourceKind.RTSP

    def __init__(
        self,
        url: str,
        *,
        rtsp_transport: str = "tcp",
        io_timeout_s: float = 5.0,
        watchdog_s: float | None = None,
        max_backstep_s: float = 0.5,
        max_jump_s: float = 10.0,
        max_drift_s: float = 5.0,
        hold_gop: bool = False,
    ) -> None:
        lib = library()
        assert lib is not None, "supports() first"
        self.lib = lib
        self.url = url
        self.io_timeout_s = io_timeout_s
        self.info: StreamInfo | None = None
        ptr = lib.vcl_new()
        if not ptr:
            raise MemoryError("copy loop")
        self._ptr: Any = ptr
        self._closing = threading.Lock()
        cam = self.cam = ptr.contents
        cam.open_timeout_s = io_timeout_s * 2
        cam.read_timeout_s = read_timeout_s(io_timeout_s)
        cam.watchdog_s = watchdog_s or 0.0
        cam.max_backstep_s, cam.max_jump_s = max_backstep_s, max_jump_s
        cam.max_drift_s = max_drift_s
        cam.tcp = int(rtsp_transport == "tcp")
        cam.hold_gop = int(hold_gop)
        self.time_base = Fraction(1, 90000)
        self._template: av.container.InputContainer | None = None
        self._template_failed = False

    @property
    def supported(self) -> bool:
        """The codec is one the C loop records (else: the PyAV loop, for this connection)."""
        return self.info is not None and self.info.codec in CODECS

    def open(self) -> StreamInfo:
        t0 = time.monotonic()
        err = self.lib.vcl_open(self._ptr, self.url.encode())
        if err < 0:
            raise SourceError(
                describe_open_failure(
                    _av_error(err), self.url, self.io_timeout_s, time.monotonic() - t0
                )
            )
        cam = self.cam
        self.time_base = Fraction(cam.tb_num, cam.tb_den)
        self.info = StreamInfo(
            url=redact_url(self.url),
            kind=str(SourceKind.RTSP),
            codec=cam.codec.decode(),
            width=cam.width,
            height=cam.height,
            fps=cam.fps or None,
            time_base=str(self.time_base),
            open_seconds=round(time.monotonic() - t0, 3),
            format="rtsp",
        )
        return self.info

    def next(self) -> int:
        """Run the loop to its next event (the interpreter lock released meanwhile)."""
        return int(self.lib.vcl_next(self._ptr))

    def failure(self) -> SourceError:
        """The read error an ERROR event reported, as a sentence."""
        if self.cam.error == NO_VIDEO:
            where = redact_url(self.url)
            return SourceError(f"connected but no video for {self.cam.watchdog_s:g} s ({where})")
        return SourceError(describe_error(_av_error(self.cam.error), self.url, self.io_timeout_s))

    def abort(self) -> None:
        """End the loop now: a read under way is interrupted, `next()` returns STOPPED."""
        with self._closing:  # never into a camera `close()` freed
            if self._ptr is not None:
                self.cam.stop = 1

    def want_packets(self, on: bool = True) -> None:
        """Return at every packet (a live view watches), or only at keyframes again."""
        with self._closing:
            if self._ptr is not None:
                self.cam.per_packet = int(on)

    def last_packets(self) -> tuple[float, float]:
        """When the last packet and keyframe came (POSIX seconds, 0: none yet), from any
        thread: the loop counts them per packet, Python sees them once a keyframe."""
        with self._closing:
            if self._ptr is None:
                return 0.0, 0.0
            return self.cam.last_packet_at, self.cam.last_keyframe_at

    def packet(self) -> bytes:
        """The bytes of the packet a PACKET event reported (valid until the next `next()`)."""
        return ctypes.string_at(self.cam.data, self.cam.size)

    def live_template(self, keyframe: bytes) -> av.video.stream.VideoStream | None:
        """A PyAV stream with this camera's codec parameters (what the live muxer copies),
        read by FFmpeg's raw demuxer from the parameter sets and `keyframe`; None (said once)
        when it cannot be."""
        if self._template_failed:
            return None
        if self._template is None:
            raw = ctypes.c_void_p()
            size = self.lib.vcl_extradata(self._ptr, ctypes.byref(raw))
            params = ctypes.string_at(raw, size) if size > 0 and raw.value else b""
            fmt = CODECS.get(self.info.codec if self.info else "")
            if fmt is None:
                return None
            try:
                self._template = av.open(io.BytesIO(params + keyframe), "r", format=fmt)
            except av.error.FFmpegError:
                log.warning("%s: no live view: cannot read its parameters", redact_url(self.url))
                self._template_failed = True
                return None
        video = self._template.streams.video
        return video[0] if video else None

    def begin_segment(self, writes: WholeWrites, comment: str) -> _Callbacks:
        """A new segment muxed into `writes`; the callbacks must live as long as it."""
        callbacks = _Callbacks(writes)
        err = self.lib.vcl_segment_begin(
            self._ptr, comment.encode(), MOVFLAGS.encode(), callbacks.write, callbacks.seek
        )
        if err < 0:
            callbacks.raise_failure()
            raise StorageError(
                f"cannot record {self.info.codec if self.info else '?'} by stream copy into "
                f"MP4: {_av_error(err)}"
            )
        return callbacks

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def end_segment(self, callbacks: _Callbacks) -> None:
        if self.closed:  # closed with the camera (its trailer went with it)
            return
        err = self.lib.vcl_segment_end(self._ptr)
        callbacks.raise_failure()
        if err < 0:
            raise _av_error(err)

    def close(self) -> None:
        with self._closing:
            ptr, self._ptr = self._ptr, None
        if ptr is not None:
            self.lib.vcl_close(ptr)
        if self._template is not None:
            self._template.close()
            self._template = None


class _Callbacks:
    """The write and seek callbacks of one segment's muxer, onto its `WholeWrites`. An
    exception cannot cross C: it is kept, and raised by `raise_failure()`."""

    def __init__(self, writes: WholeWrites) -> None:
        self.writes = writes
        self.failure: BaseException | None = None
        self.write = WRITE_FN(self._write)
        self.seek = SEEK_FN(self._seek)

    def _write(self, _opaque: int | None, buf: int | None, size: int) -> int:
        try:
            self.writes.write(memoryview((ctypes.c_char * size).from_address(buf or 0)))
            return size
        except BaseException as exc:
            self.failure = self.failure or exc
            return EIO

    def _seek(self, _opaque: int | None, offset: int, whence: int) -> int:
        if whence & AVSEEK_SIZE:
            return -1
        try:
            return self.writes.seek(offset, whence & ~AVSEEK_FORCE)
        except BaseException as exc:
            self.failure = self.failure or exc
            return EIO

    def raise_failure(self) -> None:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure


class NativeSegmentWriter(SegmentWriter):
    """A segment muxed by the C loop of `source`: the recorder calls `note_keyframe` at each
    KEYFRAME event and `sync` before reading the counts."""

    def __init__(self, root: Path, camera: str, start: datetime, source: Any, **kw: Any):
        assert isinstance(source, NativeSource), "the C loop's segments take its source"
        self.source = source
        self._callbacks: _Callbacks | None = None
        super().__init__(root, camera, start, source, **kw)

    def _open_muxer(self, template: Any, writes: WholeWrites, comment: str) -> None:
        try:
            self._callbacks = self.source.begin_segment(writes, comment)
        except OSError as exc:  # writing the header (disk full, ...)
            raise StorageError(describe_storage_error(exc, self.path)) from exc

    def _close_muxer(self) -> None:
        self.sync()  # the packets written since the last event count too
        callbacks, self._callbacks = self._callbacks, None
        if callbacks is not None:
            self.source.end_segment(callbacks)

    def sync(self) -> None:
        if self.source.closed:
            return
        cam = self.source.cam
        self.end_s, self.packets, self.dts_fixed = cam.end_s, cam.packets, cam.dts_fixed

    def write_failed(self) -> StorageError:
        """Why the loop could not write a packet (its WRITE_FAILED event), as a sentence."""
        failure = self._callbacks.failure if self._callbacks else None
        exc = failure or _av_error(self.source.cam.error)
        return StorageError(describe_storage_error(exc, self.path))

    def note_keyframe(self, ts: float) -> None:
        """The keyframe at stream time `ts` is written (it flushed the fragment before it)."""
        self.sync()
        if self._first_s is None:
            self._first_s = ts
        self._keyframe_at(ts - self._first_s)


def _av_error(code: int) -> Exception:
    """PyAV's exception for an FFmpeg error code (the codes are FFmpeg's, whichever version)."""
    try:
        av.error.err_check(code)
    except Exception as exc:
        return exc
    return OSError(-code, os.strerror(-code) if code < 0 else "error")


if __name__ == "__main__":  # `make install`: build it now, or say why the PyAV loop records
    logging.basicConfig(format="%(message)s")
    built = library()
    print(f"C copy loop: {'built' if built is not None else 'not available'}")
