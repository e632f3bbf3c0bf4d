"""Camera sources on PyAV: open a URL, read video packets, decode small analysis frames.

One place knows how each kind of source is opened (RTSP, HTTP(S) MJPEG, HLS, local files,
V4L2) and how its failures read to a person. The recorder copies packets from a
`PacketSource`; analysis (motion, later faces) pulls small decoded frames from
`analysis_frames`.

Facts this relies on (see ../shared/recipes/rtsp-test-server.md): FFmpeg 8 bounds an RTSP hang
only with the `timeout` option in microseconds (`stimeout`/`rw_timeout` are ignored);
`analyzeduration=0, probesize=32` opens RTSP in ~0.1 s because the SDP carries the codec; a
killed server ends the demux loop without an exception; the first RTSP packet (a keyframe)
has no pts or dts: `PacketSource` places it one frame before the next packet instead of
skipping it.
"""

from __future__ import annotations

import enum
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import av.error
import numpy as np

from vigil.camera.read_guard import ReadGuard
from vigil.camera.timebase import stream_time_base
from vigil.config import CameraConfig

log = logging.getLogger(__name__)

# Wall-clock timestamps (1/90000 s) for sources that carry none (HTTP MJPEG, some V4L2).
WALL_TIME_BASE = Fraction(1, 90000)


class SourceKind(enum.StrEnum):
    RTSP = "rtsp"
    HTTP = "http"  # HTTP(S) MJPEG or any single-stream HTTP video
    HLS = "hls"
    FILE = "file"
    V4L2 = "v4l2"


class SourceError(Exception):
    """A source could not be opened or read; `str()` is a sentence for a person."""


def source_kind(url: str) -> SourceKind:
    low = url.lower()
    if low.startswith(("rtsp://", "rtsps://")):
        return SourceKind.RTSP
    if low.startswith(("http://", "https://")):
        path = urlsplit(low).path
        return SourceKind.HLS if path.endswith(".m3u8") else SourceKind.HTTP
    if low.startswith("/dev/video") or low.startswith("v4l2:"):
        return SourceKind.V4L2
    return SourceKind.FILE


def redact_url(url: str) -> str:
    """The URL with its password replaced by '***' (for status, logs and errors)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def describe_error(exc: BaseException, url: str = "", io_timeout_s: float | None = None) -> str:
    """One clear sentence for an exception raised while opening or reading a source."""
    where = f" ({redact_url(url)})" if url else ""
    if isinstance(exc, SourceError):
        return str(exc)
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return f"authentication failed: wrong or missing user/password{where}"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return f"access forbidden (403){where}"
    if isinstance(exc, av.error.HTTPNotFoundError):
        return f"stream not found (404): check the path{where}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused: nothing listens at that address{where}"
    if isinstance(exc, av.error.ExitError | TimeoutError | socket.timeout):
        limit = io_timeout_s
        if limit and isinstance(exc, av.error.ExitError):  # the open or read limit ended it
            limit = read_timeout_s(limit)
        after = f" for {limit:g} s" if limit else ""
        return f"timed out: no data{after}{where}"
    if isinstance(exc, av.error.InvalidDataError):
        return f"invalid data: not a readable video stream (garbage or corrupt input){where}"
    if isinstance(exc, FileNotFoundError):
        return f"not found{where}"
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or str(exc)
        return f"{text}{where}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}{where}"


def input_options(kind: SourceKind, *, rtsp_transport: str = "tcp", io_timeout_s: float = 5.0):
    """FFmpeg options for opening a source of this kind."""
    us = str(int(io_timeout_s * 1_000_000))
    if kind is SourceKind.RTSP:
        return {
            "rtsp_transport": rtsp_transport,
            "timeout": us,  # socket I/O timeout, µs (FFmpeg >= 5 name)
            "analyzeduration": "0",  # codec, size and rate come from the SDP
            "probesize": "32",
        }
    if kind in (SourceKind.HTTP, SourceKind.HLS):
        return {"timeout": us, "reconnect": "0", "analyzeduration": "1000000"}
    return {}


def read_timeout_s(io_timeout_s: float) -> float:
    """How long one read may block before it is ended (PyAV's read timeout, a `ReadGuard`)."""
    return io_timeout_s * 2


def open_input(
    url: str,
    *,
    rtsp_transport: str = "tcp",
    io_timeout_s: float = 5.0,
) -> av.container.InputContainer:
    """Open a source for reading; raise SourceError with a clear sentence on failure."""
    kind = source_kind(url)
    options = input_options(kind, rtsp_transport=rtsp_transport, io_timeout_s=io_timeout_s)
    fmt: str | None = None
    target = url
    if kind is SourceKind.V4L2:
        fmt = "v4l2"
        target = url.removeprefix("v4l2:")
    elif kind is SourceKind.FILE:
        path = Path(url.removeprefix("file://"))
        if not path.exists():
            raise SourceError(f"file not found: {path}")
        target = str(path)
    t0 = time.monotonic()
    # PyAV's own (open, read) timeout bounds hangs that FFmpeg's options do not cover (an RTSP
    # server sending RTCP but no video, an HTTP stream trickling bytes). `PacketSource` moves
    # the read timeout to a `ReadGuard`, which costs no interpreter lock per poll (0075).
    try:
        container = av.open(
            target,
            format=fmt,
            options=options,
            timeout=(io_timeout_s * 2, read_timeout_s(io_timeout_s)),
        )
    except Exception as exc:
        raise SourceError(
            describe_open_failure(exc, url, io_timeout_s, time.monotonic() - t0)
        ) from exc
    if not container.streams.video:
        container.close()
        raise SourceError(f"no video stream in {redact_url(url)}")
    return container


def describe_open_failure(exc: BaseException, url: str, io_timeout_s: float, elapsed: float) -> str:
    """Name the usual causes FFmpeg reports vaguely (unknown host, silent host)."""
    kind = source_kind(url)
    if kind in (SourceKind.RTSP, SourceKind.HTTP, SourceKind.HLS):
        host = urlsplit(url).hostname
        if host:
            try:
                socket.getaddrinfo(host, None)
            except OSError:
                return f"host name not found: {host} ({redact_url(url)})"
        if elapsed >= io_timeout_s * 0.9 and not isinstance(
            exc, av.error.HTTPError | ConnectionRefusedError
        ):
            return (
                f"no answer within {elapsed:.0f} s: host down, unreachable or not a camera "
                f"({redact_url(url)})"
            )
    return describe_error(exc, url, io_timeout_s)


@dataclass
class StreamInfo:
    """What a source carries, as found when it was opened."""

    url: str  # redacted
    kind: str
    codec: str
    width: int
    height: int
    fps: float | None
    time_base: str
    open_seconds: float
    format: str = ""
    bitrate_kbps: float | None = None
    packets: int = 0
    keyframes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _stream_info(container: av.container.InputContainer, url: str, open_s: float) -> StreamInfo:
    vs = container.streams.video[0]
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    return StreamInfo(
        url=redact_url(url),
        kind=str(source_kind(url)),
        codec=vs.codec_context.name,
        width=vs.codec_context.width,
        height=vs.codec_context.height,
        fps=float(rate) if rate else None,
        time_base=str(vs.time_base),
        open_seconds=round(open_s, 3),
        format=container.format.name,
    )


def probe(
    url: str, *, seconds: float = 2.0, rtsp_transport: str = "tcp", io_timeout_s: float = 5.0
) -> StreamInfo:
    """Open a source, read it for up to `seconds`, and describe it (raises SourceError)."""
    t0 = time.monotonic()
    container = open_input(url, rtsp_transport=rtsp_transport, io_timeout_s=io_timeout_s)
    try:
        info = _stream_info(container, url, time.monotonic() - t0)
        vs = container.streams.video[0]
        nbytes = 0
        first_t: float | None = None
        last_t: float | None = None
        t_read = time.monotonic()
        try:
            for pkt in container.demux(vs):
                if pkt.size == 0:
                    continue
                info.packets += 1
                info.keyframes += int(pkt.is_keyframe)
                nbytes += pkt.size
                ts = pkt.pts if pkt.pts is not None else pkt.dts
                if ts is not None and pkt.time_base is not None:
                    t = float(ts * pkt.time_base)
                    first_t = t if first_t is None else first_t
                    last_t = t
                if time.monotonic() - t_read >= seconds:
                    break
        except Exception as exc:
            if info.packets == 0:
                raise SourceError(describe_error(exc, url, io_timeout_s)) from exc
        if info.packets == 0:
            raise SourceError(f"opened but no video packets arrived from {redact_url(url)}")
        span = (last_t - first_t) if first_t is not None and last_t is not None else 0.0
        if span <= 0:
            span = time.monotonic() - t_read
        if span > 0:
            info.bitrate_kbps = round(nbytes * 8 / span / 1000, 1)
        return info
    finally:
        container.close()


@dataclass
class PacketSource:
    """A connected source that yields the video packets of its first video stream.

    Packets keep their stream time base. Files are paced to real time (like `ffmpeg -re`) and,
    with `loop=True`, replayed forever with timestamps that keep increasing. Sources without
    timestamps (HTTP MJPEG) get wall-clock ones in `WALL_TIME_BASE`.
    """

    url: str
    rtsp_transport: str = "tcp"
    io_timeout_s: float = 5.0
    loop: bool = False
    pace: bool | None = None  # default: pace files and HLS
    # Connected but no video packet for this long (other streams may still flow): SourceError.
    watchdog_s: float | None = None
    container: av.container.InputContainer | None = field(default=None, init=False)
    info: StreamInfo | None = field(default=None, init=False)
    _guard: ReadGuard | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind = source_kind(self.url)
        if self.pace is None:
            # Files and HLS (a VOD playlist, or the first segments of a live one) would
            # arrive faster than real time; pacing keeps pts close to the wall clock.
            self.pace = self.kind in (SourceKind.FILE, SourceKind.HLS)

    @property
    def stream(self) -> av.video.stream.VideoStream:
        assert self.container is not None, "open() first"
        return self.container.streams.video[0]

    def open(self) -> StreamInfo:
        t0 = time.monotonic()
        self.container = open_input(
            self.url, rtsp_transport=self.rtsp_transport, io_timeout_s=self.io_timeout_s
        )
        self.info = _stream_info(self.container, self.url, time.monotonic() - t0)
        return self.info

    def abort(self) -> None:
        """End a read blocked in `packets()` (from another thread); it raises SourceError.
        Before the first packet PyAV's own read timeout still rules, and this does nothing."""
        if self._guard is not None:
            self._guard.expire()

    def close(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # closing a broken stream must never raise
                log.debug("closing %s failed", redact_url(self.url), exc_info=True)
            self.container = None

    def __enter__(self) -> PacketSource:
        if self.container is None:
            self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def packets(self) -> Iterator[av.Packet]:
        """Video packets with a dts; ends when the source ends (a disconnect for live ones).

        Raises SourceError for read failures (timeouts, garbage, ...).
        """
        offset = 0  # added to pts/dts when a looped file starts over (stream time base)
        wall_t0: float | None = None
        pace_t0: float | None = None
        pace_ts0: float | None = None

        def pace(t: float) -> None:
            """Sleep until stream time `t` is due (files and HLS play in real time)."""
            nonlocal pace_t0, pace_ts0
            now = time.monotonic()
            if pace_t0 is None or pace_ts0 is None:
                pace_t0, pace_ts0 = now, t
            delay = (t - pace_ts0) - (now - pace_t0)
            if delay < -2.0 or delay > 5.0:  # a timestamp jump: pace from here
                pace_t0, pace_ts0, delay = now, t, 0.0
            if delay > 0:
                time.sleep(delay)

        looping = self.loop and self.kind is SourceKind.FILE
        paced = self.pace
        while True:
            assert self.container is not None
            vs = self.stream
            video = vs.index
            vs_tb = stream_time_base(vs)
            last_end = offset
            stamped_by_wall = False
            last_video = time.monotonic()
            # Packets with no timestamp yet (the first RTSP keyframe): held until the next one
            # tells where they belong, so a recording starts at the source's first keyframe.
            unstamped: list[av.Packet] = []
            guard = self._guard = ReadGuard(self.container, read_timeout_s(self.io_timeout_s))
            try:
                # All streams are demuxed so that a stream which delivers audio but no video is
                # noticed (demux(vs) would keep reading inside FFmpeg and never come back).
                demux = self.container.demux()
                unarmed = True
                while True:
                    guard.reading_since = time.monotonic()
                    pkt = next(demux, None)
                    guard.reading_since = None
                    if pkt is None:
                        break
                    if unarmed:  # PyAV's timeout is in place once its first read is done
                        guard.arm()
                        unarmed = False
                    if pkt.stream_index != video or pkt.size == 0:
                        ts_other = pkt.dts if pkt.dts is not None else pkt.pts
                        if paced and ts_other is not None and pkt.time_base is not None:
                            pace(float(ts_other * pkt.time_base + offset * vs_tb))
                        if (
                            self.watchdog_s is not None
                            and time.monotonic() - last_video > self.watchdog_s
                        ):
                            raise SourceError(
                                f"connected but no video for {self.watchdog_s:g} s "
                                f"({redact_url(self.url)})"
                            )
                        continue
                    last_video = time.monotonic()
                    # Each PyAV property read crosses into Cython: read once per packet.
                    pts, dts = pkt.pts, pkt.dts
                    if dts is None and pts is None:
                        if self.kind in (SourceKind.HTTP, SourceKind.V4L2):
                            stamped_by_wall = True
                        elif len(unstamped) < MAX_UNSTAMPED:
                            unstamped.append(pkt)
                            continue
                        else:  # never stamped: not a stream we can place in time
                            continue
                    if stamped_by_wall:
                        now = time.monotonic()
                        wall_t0 = now if wall_t0 is None else wall_t0
                        pts = round((now - wall_t0) / WALL_TIME_BASE)
                        pkt.time_base = WALL_TIME_BASE
                        pkt.pts = pkt.dts = pts
                    elif dts is None or pts is None or offset:
                        if dts is None:
                            dts = pts
                        if pts is None:
                            pts = dts
                        # Both None was handled above (held, skipped or stamped by wall).
                        assert pts is not None and dts is not None
                        pts += offset
                        dts += offset
                        pkt.pts, pkt.dts = pts, dts
                    if unstamped:
                        yield from _stamp_before(unstamped, pkt, _frame_ticks(vs))
                        unstamped = []
                    if looping:
                        last_end = max(last_end, pts + (pkt.duration or 0))
                    if paced:
                        pace(float(pts * pkt.time_base))
                    yield pkt
            except SourceError:
                raise
            except Exception as exc:
                raise SourceError(describe_error(exc, self.url, self.io_timeout_s)) from exc
            finally:
                guard.reading_since = None
                guard.release()
            if not looping:
                return
            # Start the file over; later timestamps continue after the last frame.
            if last_end <= offset:
                return  # an empty file would loop forever
            frame = _frame_ticks(vs)
            offset = last_end if last_end > offset else offset + frame
            self.close()
            self.open()


MAX_UNSTAMPED = 8  # timeless packets held at most while waiting for a timestamp


def _stamp_before(held: list[av.Packet], nxt: av.Packet, frame_ticks: int) -> list[av.Packet]:
    """Give packets that came without a timestamp the frame slots just before `nxt` (RTSP
    knows a packet's time only from the next RTP timestamp it can map: the first keyframe
    arrives timeless, one frame before the first stamped packet)."""
    step = nxt.duration or frame_ticks
    nxt_dts = nxt.dts
    assert nxt_dts is not None, "nxt is a stamped packet"
    for back, pkt in enumerate(reversed(held), start=1):
        pkt.time_base = nxt.time_base
        pkt.dts = nxt_dts - back * step
        pkt.pts = pkt.dts
        if not pkt.duration:
            pkt.duration = step
    return held


def _frame_ticks(vs: av.video.stream.VideoStream) -> int:
    rate = vs.average_rate or vs.guessed_rate or Fraction(25)
    return max(1, round(1 / (rate * stream_time_base(vs))))


def analysis_url(camera: CameraConfig) -> str:
    """The stream analysis should decode: the sub-stream when configured, else the main one."""
    return camera.sub_url or camera.url


@dataclass
class AnalysisFrame:
    """One small decoded frame for analysis."""

    image: np.ndarray  # H x W x 3 uint8 BGR, or H x W gray
    wall_time: float  # POSIX seconds (time.time) when the frame was received
    pts_seconds: float  # stream time of the frame


def analysis_frames(
    url: str,
    *,
    fps: float = 5.0,
    max_width: int = 640,
    gray: bool = False,
    stop: threading.Event | None = None,
    rtsp_transport: str = "tcp",
    io_timeout_s: float = 5.0,
    loop: bool = False,
    reconnect: bool = True,
    backoff_initial_s: float = 1.0,
    backoff_max_s: float = 30.0,
    pace: bool | None = None,
) -> Iterator[AnalysisFrame]:
    """Decode a stream at low rate and size for analysis (motion, later faces).

    Every packet must still be decoded for inter-coded video, but only the frames picked at
    `fps` are scaled and converted, which is most of the cost. When `fps` is at or below the
    keyframe rate only keyframes are decoded (`skip_frame=NONKEY`), which is far cheaper.
    With `reconnect`, failures wait with capped exponential backoff and try again until `stop`
    is set; without it, a failure raises SourceError. Files are paced to real time unless
    `pace=False` (offline analysis of a recording).
    """
    stop = stop or threading.Event()
    backoff = backoff_initial_s
    interval = 1.0 / fps
    while not stop.is_set():
        src = PacketSource(
            url, rtsp_transport=rtsp_transport, io_timeout_s=io_timeout_s, loop=loop, pace=pace
        )
        try:
            src.open()
            vs = src.stream
            ctx = vs.codec_context
            ctx.thread_count = 1
            rate = vs.average_rate or vs.guessed_rate
            next_t: float | None = None
            key_only = False
            keys: list[float] = []
            w, h = ctx.width, ctx.height
            if w > max_width:
                h = max(2, round(h * max_width / w / 2) * 2)
                w = max_width
            for pkt in src.packets():
                if stop.is_set():
                    return
                pts = pkt.pts
                assert pts is not None, "packets() stamps every packet it yields"
                t = float(pts * pkt.time_base)
                if pkt.is_keyframe and not key_only and rate:
                    keys.append(t)
                    if len(keys) >= 3:
                        key_interval = (keys[-1] - keys[0]) / (len(keys) - 1)
                        # Keyframes alone suffice when they come at least as often as wanted.
                        key_only = key_interval <= interval * 1.1 and key_interval > 1 / float(rate)
                        if key_only:
                            ctx.skip_frame = "NONKEY"
                        del keys[:-3]
                for frame in ctx.decode(pkt):
                    fpts, ftb = frame.pts, frame.time_base
                    ft = float(fpts * ftb) if fpts is not None and ftb is not None else t
                    if next_t is not None and ft < next_t - 1e-6:  # 0.2 * 3 > 0.6
                        continue
                    next_t = (
                        ft + interval
                        if next_t is None or ft - next_t > interval
                        else (next_t + interval)
                    )
                    img = frame.reformat(width=w, height=h, format="gray" if gray else "bgr24")
                    backoff = backoff_initial_s
                    yield AnalysisFrame(img.to_ndarray(), time.time(), ft)
            if not reconnect or src.kind is SourceKind.FILE:
                return  # a file that ended is done (`loop` replays it inside PacketSource)
        except SourceError:
            if not reconnect:
                raise
            log.info("analysis stream %s failed; retrying in %.1f s", redact_url(url), backoff)
        finally:
            src.close()
        stop.wait(backoff)
        backoff = min(backoff * 2, backoff_max_s)
