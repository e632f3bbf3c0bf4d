"""Live H.264 for browsers: one short-fragment fMP4 per camera, fanned out to every viewer.

Per camera (`LiveFeed`) the packets the recorder already demuxes (or, for a camera nobody
records here, those of one reader opened while someone watches) are muxed by stream copy into
a fragmented MP4 in memory, one fragment per frame, so a frame reaches the browser as soon as
the next one is muxed (the recorder's own segments fragment per keyframe: a GOP, 1-4 s, too
late for a live view; decision 0067). Nothing is decoded. Every viewer of a camera gets the
same bytes from the same muxer: 20 viewers add 20 queue appends per frame, no demuxing. While
nobody watches, nothing is muxed: the packets since the last keyframe are only kept, and the
first viewer's arrival muxes them, so it starts at once all the same (muxing every frame of
every camera for nobody nearly doubled a recorder's CPU, decision 0076). A recorder on the C
copy loop (0079) keeps that GOP itself and pushes only while the feed is `wanted`: `on_wanted`
starts it (the GOP so far first), `idle` stops it.

A viewer is a `Viewer` (the API wraps an asyncio queue): it gets `MEDIA` bytes (the init
segment, then fragments; append them in order to one MSE SourceBuffer), `RESET` when the
stream starts over with new codec parameters (a new init follows: start a new SourceBuffer),
and `END` with a reason when the feed stops for it. `push` never raises into its caller: a
muxing failure is logged and the muxer starts over at the next keyframe.

A camera recorded in a worker process (`vigil.camera.workers`) is muxed there, by the worker's
own feed, only while someone here watches it: a `tap` on that feed hands each init segment,
fragment and reset to the pipe, and this process's feed `relay`s them to its viewers, keeping
the init and GOP for late joiners as if it had muxed them itself (decision 0076). One
connection to the camera either way.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import av

from vigil.config import CameraConfig

log = logging.getLogger(__name__)

MOVFLAGS = "frag_every_frame+empty_moov+default_base_moof+skip_trailer"
MAX_GOP_BYTES = 8 * 1024 * 1024  # kept for late joiners; past this only the init is kept


class Kind(enum.IntEnum):
    MEDIA = 1
    RESET = 2
    END = 3


class Viewer(Protocol):
    def send(self, kind: Kind, data: bytes) -> None:
        """Called from the demuxing thread: must not block."""


class Tap(Protocol):
    def __call__(self, event: str, data: bytes, key: bool) -> None:
        """`event`: "init" (a new stream's init segment), "fragment" (`key`: it starts with
        a keyframe) or "reset" (the stream ended; an init follows). Must not block."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One packet's bytes and timing, as the live muxer takes them."""

    data: bytes
    pts: int
    dts: int
    key: bool
    time_base: Fraction


@dataclass(frozen=True)
class _Params:
    """What a new muxer is needed for: a stream with other codec parameters."""

    codec: str
    width: int
    height: int
    extradata: bytes

    @classmethod
    def of(cls, stream: av.video.stream.VideoStream) -> _Params:
        cc = stream.codec_context
        return cls(cc.name, cc.width, cc.height, bytes(cc.extradata or b""))


class _Boxes:
    """The muxer's output file: splits the byte stream into the init segment (ftyp + moov)
    and fragments (moof + mdat), handing each on whole."""

    def __init__(self, on_init: Callable[[bytes], None], on_fragment: Callable[[bytes], None]):
        self._buf = bytearray()
        self._init = bytearray()
        self._moof = b""
        self.on_init, self.on_fragment = on_init, on_fragment

    def write(self, data: bytes) -> int:
        self._buf += data
        while len(self._buf) >= 8:
            size = int.from_bytes(self._buf[0:4], "big")
            kind = bytes(self._buf[4:8])
            if size == 1 and len(self._buf) >= 16:
                size = int.from_bytes(self._buf[8:16], "big")
            if size < 8 or len(self._buf) < size:
                break
            box = bytes(self._buf[:size])
            del self._buf[:size]
            if kind == b"ftyp":
                self._init = bytearray(box)
            elif kind == b"moov":
                self.on_init(bytes(self._init + box))
            elif kind == b"moof":
                self._moof = box
            elif kind == b"mdat":
                self.on_fragment(self._moof + box)
                self._moof = b""
            # anything else (mfra at close) is not needed by a live player
        return len(data)


class FragmentMuxer:
    """Stream copy of one video stream into one-frame fMP4 fragments, in memory."""

    def __init__(
        self,
        template: av.video.stream.VideoStream,
        on_init: Callable[[bytes], None],
        on_fragment: Callable[[bytes, bool], None],
    ) -> None:
        self._keys: deque[bool] = deque()
        self._out = av.open(
            _Boxes(on_init, self._fragment),
            "w",
            format="mp4",
            options={"movflags": MOVFLAGS, "flush_packets": "1"},
        )
        self._stream = self._out.add_stream_from_template(template)
        self._on_fragment = on_fragment
        self._base: int | None = None
        self._last_dts: int | None = None

    def _fragment(self, data: bytes) -> None:
        self._on_fragment(data, self._keys.popleft() if self._keys else False)

    def write(self, data: bytes, pts: int, dts: int, key: bool, time_base: Fraction) -> None:
        if self._base is None:
            self._base = dts
        dts -= self._base
        pts -= self._base
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1  # jitter: the MP4 muxer refuses non-increasing dts
            pts = max(pts, dts)
        self._last_dts = dts
        pkt = av.Packet(data)
        pkt.pts, pkt.dts, pkt.time_base = pts, dts, time_base
        pkt.is_keyframe = key
        pkt.stream = self._stream
        self._keys.append(key)
        self._out.mux(pkt)

    def close(self) -> None:
        try:
            self._out.close()
        except Exception:  # the last fragment of a stream that is going away
            log.debug("closing a live muxer failed", exc_info=True)


class LiveFeed:
    """One camera's live fMP4 and its viewers. `push` (or `relay`) from one thread; the rest
    from any. While nobody watches and no tap is set, the packets since the last keyframe are
    only kept (unmuxed) for the next viewer."""

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.tap: Tap | None = None
        self._held: list[Frame] = []  # unmuxed, from the last keyframe, while unwatched
        self._held_bytes = 0
        self._held_template: av.video.stream.VideoStream | None = None
        self._held_codec = ""
        self._held_masked = False
        self._lock = threading.Lock()  # viewers, init and GOP
        self._mux_lock = threading.Lock()  # the muxer (taken before `_lock`)
        self._closed = False  # for good: pushes are ignored (the server is stopping)
        self._viewers: set[Viewer] = set()
        self._muxer: FragmentMuxer | None = None
        self._params: _Params | None = None
        self._template: av.video.stream.VideoStream | None = None
        self._init: bytes | None = None
        self._gop: list[bytes] = []  # fragments since the last keyframe
        self._gop_bytes = 0
        self.masked = False  # the packets carry burned-in privacy masks
        self.codec = ""
        self.last_push = 0.0  # monotonic; 0: never
        self.fragments = 0  # muxed since start (all viewers share them)
        # Called when a viewer or tap arrives: a recorder that pushes only while the feed is
        # `wanted` (the C copy loop, decision 0079) starts pushing, the GOP so far first.
        self.on_wanted: Callable[[], None] | None = None

    @property
    def viewers(self) -> int:
        with self._lock:
            return len(self._viewers)

    @property
    def ready(self) -> bool:
        return self._init is not None

    @property
    def wanted(self) -> bool:
        """Someone watches, or a tap takes the stream."""
        return self.tap is not None or bool(self._viewers)

    def _call_on_wanted(self) -> None:
        on_wanted = self.on_wanted
        if on_wanted is not None:
            on_wanted()

    def subscribe(self, viewer: Viewer) -> None:
        """Add a viewer: it gets the init segment and the current GOP at once, if any."""
        with self._mux_lock:
            with self._lock:
                self._viewers.add(viewer)
                if self._init is not None:
                    viewer.send(Kind.MEDIA, self._init)
                    for frag in self._gop:
                        viewer.send(Kind.MEDIA, frag)
            self._mux_held()
        self._call_on_wanted()

    def unsubscribe(self, viewer: Viewer) -> None:
        with self._lock:
            self._viewers.discard(viewer)

    def push(
        self,
        pkt: av.Packet,
        template: av.video.stream.VideoStream,
        *,
        masked: bool = False,
        time_base: Fraction | None = None,
    ) -> None:
        """Mux one video packet, or keep it while nobody watches (not changed: the caller may
        go on using it)."""
        pts, dts = pkt.pts, pkt.dts
        if pts is None or dts is None:
            self.last_push = time.monotonic()
            return
        frame = Frame(bytes(pkt), pts, dts, pkt.is_keyframe, time_base or pkt.time_base)
        self.push_frame(frame, template, masked=masked)

    def push_frame(
        self, frame: Frame, template: av.video.stream.VideoStream, *, masked: bool = False
    ) -> None:
        """`push` for a packet that is bytes and timing already."""
        self.last_push = time.monotonic()
        with self._mux_lock:
            if self._closed:
                return
            try:
                if self.tap or self._viewers or (self._muxer is not None and not frame.key):
                    self._mux(frame, template, masked)  # watched (or the GOP they left in)
                else:
                    self._hold(frame, template, masked)
            except Exception:
                log.warning("%s: live muxing failed; starting over", self.camera, exc_info=True)
                self._restart(None)

    def idle(self, codec: str) -> bool:
        """Unless the feed is `wanted` now: no muxer, nothing kept, until it is (the pusher
        then starts again at a keyframe), and True. `codec`: what the camera sends."""
        with self._mux_lock:
            if self.wanted:
                return False
            self._restart(None)
            self._held, self._held_bytes = [], 0
            self.codec = codec
            return True

    def _hold(self, frame: Frame, template: av.video.stream.VideoStream, masked: bool) -> None:
        """Keep `frame` unmuxed for the next viewer: the GOP so far, from its keyframe."""
        if self._muxer is not None:
            self._restart(None)  # the last viewer left: stop muxing at this keyframe
        if template is not self._held_template:
            self._held_codec = _Params.of(template).codec
        self.codec, self.masked = self._held_codec, masked  # the API decides on H.264 by them
        if frame.key:
            self._held, self._held_bytes = [frame], len(frame.data)
        elif (
            self._held
            and template is self._held_template
            and self._held_bytes + len(frame.data) <= MAX_GOP_BYTES
        ):
            self._held.append(frame)
            self._held_bytes += len(frame.data)
        else:
            self._held, self._held_bytes = [], 0  # wait for the next keyframe
        self._held_template, self._held_masked = template, masked

    def _mux_held(self) -> None:
        """A viewer (or tap) arrived: mux the kept GOP, so it starts at once."""
        held, self._held, self._held_bytes = self._held, [], 0
        if not held or self._muxer is not None or self._held_template is None:
            return
        try:
            for frame in held:
                self._mux(frame, self._held_template, self._held_masked)
        except Exception:
            log.warning("%s: live muxing failed; starting over", self.camera, exc_info=True)
            self._restart(None)

    def _mux(self, frame: Frame, template: av.video.stream.VideoStream, masked: bool) -> None:
        key = frame.key
        # Parameters compared only when the stream object changes (a looped file reopened, a
        # reconnect): same parameters keep the muxer, as timestamps go on increasing.
        if template is not self._template or masked != self.masked:
            if (
                self._params is None
                or masked != self.masked
                or self._params != _Params.of(template)
            ):
                if not key:
                    return  # a new stream starts at a keyframe
                self._restart(template, masked)
            self._template = template
        if self._muxer is None:
            if not key:
                return
            self._muxer = FragmentMuxer(template, self._got_init, self._got_fragment)
        self._muxer.write(frame.data, frame.pts, frame.dts, key, frame.time_base)

    def _restart(self, template: av.video.stream.VideoStream | None, masked: bool = False) -> None:
        """Drop the muxer; with `template`, the next keyframe starts a new stream."""
        muxer, self._muxer = self._muxer, None
        if muxer is not None:
            muxer.close()
        params = _Params.of(template) if template is not None else None
        self._template = template
        self._reset(params, masked)

    def _reset(self, params: _Params | None, masked: bool) -> None:
        with self._lock:
            had_stream = self._init is not None
            self._init, self._gop, self._gop_bytes = None, [], 0
            self._params = params
            self.masked = masked
            self.codec = params.codec if params else ""
            if had_stream:
                for v in self._viewers:
                    v.send(Kind.RESET, b"")
                if self.tap is not None:
                    self.tap("reset", b"", False)

    def _got_init(self, data: bytes) -> None:
        with self._lock:
            self._init = data
            for v in self._viewers:
                v.send(Kind.MEDIA, data)
            if self.tap is not None:
                self.tap("init", data, False)

    def _got_fragment(self, data: bytes, key: bool) -> None:
        with self._lock:
            if self.tap is not None:
                self.tap("fragment", data, key)
            self.fragments += 1
            if key or self._gop_bytes + len(data) > MAX_GOP_BYTES:
                self._gop, self._gop_bytes = [], 0
            if key or self._gop:
                self._gop.append(data)
                self._gop_bytes += len(data)
            for v in self._viewers:
                v.send(Kind.MEDIA, data)

    def set_tap(self, tap: Tap | None) -> None:
        """Hand this feed's stream to `tap`, from the kept GOP on, as a new viewer gets it
        (None: stop; muxing stops at the next keyframe unless someone watches)."""
        with self._mux_lock:
            self.tap = tap
            if tap is not None:
                with self._lock:  # the stream so far, as a new viewer gets it
                    if self._init is not None:
                        tap("init", self._init, False)
                        for i, frag in enumerate(self._gop):
                            tap("fragment", frag, i == 0)
                self._mux_held()
        if tap is not None:
            self._call_on_wanted()

    def relay(self, event: str, data: bytes, key: bool, codec: str, masked: bool) -> None:
        """What another process's feed of this camera muxed (see `Tap`), to this one's
        viewers, with the init and GOP kept for late joiners as if muxed here."""
        self.last_push = time.monotonic()
        if event == "fragment":
            self._got_fragment(data, key)
        elif event == "reset":
            self._reset(None, False)
        elif event == "init":
            if self._init is not None:  # a new stream: the viewers start over
                self._reset(None, False)
            self.codec, self.masked = codec, masked
            self._got_init(data)

    def end(self, reason: str, *, closing: bool = False) -> None:
        """Stop: every viewer is told why and dropped; the next keyframe pushed starts anew,
        unless `closing`. The muxer is closed here, never left to the garbage collector (an
        FFmpeg muxer finalised at interpreter exit can crash the process)."""
        with self._mux_lock:  # never close the muxer under a packet being muxed
            self._closed = self._closed or closing
            self._restart(None)
            self._held, self._held_bytes = [], 0
        with self._lock:
            viewers, self._viewers = self._viewers, set()
        for v in viewers:
            v.send(Kind.END, reason.encode())


class LiveFeeds:
    """Every camera's `LiveFeed`. A camera is fed by its recorder (`attach`, then `push` from
    the recording thread); for a camera with no recorder in this process (`vigil api`, or
    `record: false`) `watch` opens one reader of its stream while it has viewers, closed
    `idle_s` after the last one left."""

    def __init__(self, idle_s: float = 10.0) -> None:
        self.idle_s = idle_s
        self._feeds: dict[str, LiveFeed] = {}
        self._recorded: dict[str, Callable[[], None] | None] = {}  # camera: its on_watch
        self._readers: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self.readers_started = 0  # own readers opened so far (each demuxes one camera)
        self.closed = threading.Event()

    def feed(self, camera: str) -> LiveFeed:
        with self._lock:
            feed = self._feeds.get(camera)
            if feed is None:
                feed = self._feeds[camera] = LiveFeed(camera)
            return feed

    def attach(self, camera: str, on_watch: Callable[[], None] | None = None) -> LiveFeed:
        """A recorder will push (or relay) this camera's packets; `on_watch` is called each
        time someone starts watching it (a worker's camera: ask the worker for its stream)."""
        with self._lock:
            self._recorded[camera] = on_watch
        return self.feed(camera)

    def recorded(self, camera: str) -> bool:
        with self._lock:
            return camera in self._recorded

    def watch(self, camera: CameraConfig, viewer: Viewer) -> LiveFeed:
        """Subscribe `viewer` to `camera`, opening a reader for it when nothing feeds it."""
        feed = self.feed(camera.name)
        feed.subscribe(viewer)
        with self._lock:
            recorded = camera.name in self._recorded
            on_watch = self._recorded.get(camera.name)
        if on_watch is not None:
            on_watch()
        if not recorded:
            with self._lock:
                if camera.name not in self._readers:
                    reader = threading.Thread(
                        target=self._read,
                        args=(camera, feed),
                        name=f"live-{camera.name}",
                        daemon=True,
                    )
                    self._readers[camera.name] = reader
                    self.readers_started += 1
                    reader.start()
        return feed

    def _read(self, camera: CameraConfig, feed: LiveFeed) -> None:
        """Demux the camera while it has viewers (reconnecting after failures)."""
        from vigil.camera.source import PacketSource, SourceError

        backoff = 1.0
        idle_since: float | None = None
        while not self.closed.is_set():
            src = PacketSource(camera.url, rtsp_transport=camera.rtsp_transport, loop=camera.loop)
            try:
                src.open()
                for pkt in src.packets():
                    feed.push(pkt, src.stream)
                    backoff = 1.0
                    if self.closed.is_set():
                        break
                    if feed.viewers:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > self.idle_s and self._retire(feed):
                        return
            except SourceError as exc:
                log.info("%s: live reader: %s", camera.name, exc)
            finally:
                src.close()
            if self._retire(feed, only_unwatched=not self.closed.is_set()):
                return
            self.closed.wait(backoff)  # the stream failed or ended with viewers: retry
            backoff = min(backoff * 2, 10.0)

    def _retire(self, feed: LiveFeed, *, only_unwatched: bool = True) -> bool:
        """Stop reading `feed`'s camera unless (with `only_unwatched`) someone watches it."""
        with self._lock:
            if only_unwatched and feed.viewers:
                return False
            self._readers.pop(feed.camera, None)
        feed.end("the live stream stopped")
        return True

    def close(self) -> None:
        """End every feed (its viewers are told) and stop the readers."""
        self.closed.set()
        with self._lock:
            feeds = list(self._feeds.values())
        for feed in feeds:
            feed.end("the server is stopping", closing=True)
