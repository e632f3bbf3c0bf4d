"""Continuous recording: one thread per camera copies packets into segments; a service runs N.

Per camera (`CameraRecorder`): connect, copy packets by stream copy into fMP4 segments cut
at keyframes (for a camera with `privacy_masks_burn_in`: the masked H.264 packets of a
`MaskBurner`, written the same way), reconnect with capped exponential backoff, and keep a
`CameraStatus`.
Wall clock: a segment's start is the wall-clock time its first keyframe arrived; later
packets are placed by their pts deltas from that anchor. A stream restart, a dts going
backwards by more than `max_backstep_s` or jumping, or pts drifting from the wall clock by more
than `max_drift_s` closes the segment and re-anchors, so gaps stay gaps in the index and video
is never stretched; a smaller step back is jitter (UDP reordering) and stays in the segment.
Burn-in reads the source through a `Backlog` of `burn_backlog_s`: when the encoder cannot keep
up, frames are dropped there up to a keyframe, counted in the status (`dropped_frames`, with
state `degraded` while it lasts), instead of being lost unseen in the socket.

RTSP cameras sending H.264/H.265 without burn-in are copied by the loop in C (`copy_loop`,
decision 0079): the per-packet work above runs there, and `_write_native` runs twice a keyframe
with the same anchoring and cuts (`_Clock`, `_cut`, `_discontinuity`).

With `live` (`LiveFeeds`), every packet written is also handed to the camera's live feed, which
muxes it for browsers (decision 0067); the feed never raises into the recorder.

`RecordingService` repairs the index of its cameras, starts one recorder per camera (past
`cameras_per_worker` cameras: in worker processes, a group of cameras each, see `workers`),
persists the status file every few seconds, and stops them all on `stop()`.
A camera recorded in a worker process is muxed for the live view there, while someone here
watches it, and relayed into this process's feed (decision 0076).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import av

from vigil.camera import copy_loop
from vigil.camera.backlog import Backlog
from vigil.camera.burn import PRESET, BurnError, MaskBurner
from vigil.camera.copy_loop import NativeSegmentWriter, NativeSource
from vigil.camera.footage_retention import DiskState
from vigil.camera.index import RepairReport, recordings_dir, repair_index
from vigil.camera.live_feed import Frame, LiveFeeds
from vigil.camera.segment import SegmentInfo, SegmentWriter, StorageError
from vigil.camera.source import PacketSource, SourceError, SourceKind, redact_url, source_kind
from vigil.camera.status import CameraStatus, State, not_recording, write_status
from vigil.camera.workers import DISK_OK, RecorderWorker, WorkerSpec, split_groups
from vigil.config import CameraConfig
from vigil.errors import VigilError
from vigil.store.db import Database

log = logging.getLogger(__name__)

SegmentListener = Callable[[SegmentInfo], None]


@dataclass(frozen=True)
class RecorderOptions:
    io_timeout_s: float = 5.0  # socket timeout; a silent stream is noticed after ~2x this
    watchdog_s: float = 15.0  # connected, other streams flowing, but no video for this long
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    stable_after_s: float = 10.0  # a connection that lasted this long resets the backoff
    index_interval_s: float = 5.0  # how often the open segment's row is advanced
    max_drift_s: float = 5.0  # pts vs wall clock disagreement that forces a re-anchor
    max_jump_s: float = 10.0  # dts step that counts as a discontinuity
    max_backstep_s: float = 0.5  # a dts step back up to this is jitter, not a discontinuity
    status_interval_s: float = 2.0  # how often the status file is rewritten
    fsync_on_close: bool = True
    # fsync the open segment this often, so a power loss loses at most this much of it
    # (None: leave it to the OS). kill -9 loses nothing either way: fragments are in the OS.
    fsync_interval_s: float | None = 10.0
    # Asked before each new segment (e.g. `FootageRetention.disk_state`): when the disk is
    # past its limits and retention could free nothing, recording pauses with the reason as
    # its status instead of filling the disk, and resumes once space is back.
    disk_check: Callable[[], DiskState] | None = None
    burn_backlog_s: float = 2.0  # burn-in: source frames that may wait for the encoder
    burn_preset: str = PRESET  # burn-in: x264 preset
    degraded_for_s: float = 30.0  # state stays `degraded` this long after the last dropped frame
    # Past this many recording cameras, groups of at most this many are recorded each in a
    # worker process of its own (`vigil.camera.workers`, 0072); None: all in this process.
    cameras_per_worker: int | None = 16
    # "auto": RTSP cameras (H.264/H.265, no burn-in) are copied by the C loop where it can be
    # built (`copy_loop`, decision 0079); "python": every camera by the PyAV loop.
    copy_loop: Literal["auto", "python"] = "auto"


DEGRADED_ERROR = (
    "recording is missing frames: burning in privacy masks cannot keep up (CPU overloaded?)"
)


class CameraRecorder(threading.Thread):
    """Records one camera until `stop()`; never raises, reports through `status`."""

    def __init__(
        self,
        camera: CameraConfig,
        data_dir: Path,
        db: Database | None,
        options: RecorderOptions | None = None,
        on_segment: SegmentListener | None = None,
        live: LiveFeeds | None = None,
    ) -> None:
        super().__init__(name=f"rec-{camera.name}", daemon=True)
        self.camera = camera
        # the browsers' live view: every packet written is also muxed there (decision 0067)
        self.live = live
        if live is not None:
            live.attach(camera.name)
        self.root = recordings_dir(data_dir)
        self.db = db
        self.opt = options or RecorderOptions()
        self.on_segment = on_segment
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._status = CameraStatus(name=camera.name, url=redact_url(camera.url))
        self._writer: SegmentWriter | None = None
        self._burner: MaskBurner | None = None  # while recording with burn-in
        self._source: PacketSource | NativeSource | None = None  # while connected
        self._last_end: datetime | None = None  # end of the last segment: the next never overlaps
        self._lost: Callable[[], int] | None = None  # frames lost on this connection so far
        self._lost_before = 0  # frames lost on earlier connections
        self._last_packet_at: float | None = None
        self._last_keyframe_at: float | None = None
        # rate window
        self._win_t = time.monotonic()
        self._win_frames = 0
        self._win_bytes = 0

    # --- public --------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop_event.set()
        if isinstance(self._source, NativeSource):
            self._source.abort()  # the C loop looks at Python's stop only once a keyframe

    def abort_read(self) -> None:
        """End a read blocked on a silent camera now (a stop otherwise waits out its limit)."""
        src = self._source
        if src is not None:
            src.abort()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def status(self) -> CameraStatus:
        with self._lock:
            st = replace(self._status)
        # Stored by the recorder thread on every packet without the lock (one attribute store).
        st.last_packet_at = self._last_packet_at
        st.last_keyframe_at = self._last_keyframe_at
        src = self._source
        if isinstance(src, NativeSource):  # counted in C per packet; seen here once a keyframe
            packet_at, keyframe_at = src.last_packets()
            st.last_packet_at = packet_at or st.last_packet_at
            st.last_keyframe_at = keyframe_at or st.last_keyframe_at
        return st

    def update_camera(self, camera: CameraConfig) -> None:
        """New settings saved while recording: privacy masks burn in from the next frame; the
        rest (URL, burn-in on or off, segment length) applies at the next connection."""
        with self._lock:  # a burner created at this moment sees either the old or new masks
            self.camera = camera
            burner = self._burner
        if burner is not None and camera.privacy_masks:
            burner.set_polygons(camera.privacy_masks)

    # --- status helpers ------------------------------------------------------------------

    def _set(self, **changes: object) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._status, k, v)

    def _went_offline(self, state: str, error: str) -> None:
        now = time.time()
        with self._lock:
            st = self._status
            repeated = st.error == error
            if st.offline_since is None or st.online:
                st.offline_since = now
            st.online = False
            st.recording = False
            st.state = state
            st.error = error
            st.error_at = now
            st.segment = ""
            st.fps = None
            st.bitrate_kbps = None
        (log.debug if repeated else log.warning)("%s: %s", self.camera.name, error)

    def _count(self, now: float, size: int, keyframe: bool) -> None:
        """Per packet: plain attribute stores; the lock only when the rate window rolls over."""
        self._last_packet_at = now
        if keyframe:
            self._last_keyframe_at = now
        self._add_rate(1, size)

    def _add_rate(self, frames: int, size: int) -> None:
        self._win_frames += frames
        self._win_bytes += size
        mono = time.monotonic()
        dt = mono - self._win_t
        if dt >= 2.0:
            with self._lock:
                st = self._status
                st.fps = round(self._win_frames / dt, 2)
                st.bitrate_kbps = round(self._win_bytes * 8 / dt / 1000, 1)
                self._note_lost(st, time.time())
            self._win_t, self._win_frames, self._win_bytes = mono, 0, 0

    def _note_lost(self, st: CameraStatus, now: float) -> None:
        """Frames lost since the last look: counted, and the state says so (under the lock)."""
        lost = self._lost_before + (self._lost() if self._lost else 0)
        if lost > st.dropped_frames:
            if st.state != State.DEGRADED:
                log.warning("%s: %s", self.camera.name, DEGRADED_ERROR)
            st.dropped_frames, st.dropped_at = lost, now
            if st.online:
                st.state, st.error, st.error_at = State.DEGRADED, DEGRADED_ERROR, now
        elif (
            st.state == State.DEGRADED
            and st.dropped_at is not None
            and now - st.dropped_at >= self.opt.degraded_for_s
        ):
            st.state, st.error = State.ONLINE, ""

    # --- thread --------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        finally:
            if self.live is not None:  # the live muxer closed by this thread, not at exit
                self.live.feed(self.camera.name).end("recording stopped")

    def _run(self) -> None:
        backoff = self.opt.backoff_initial_s
        attempts = 0
        while not self._stop_event.is_set():
            if attempts:  # the state stays offline/error (with its text) while retrying
                self._set(reconnects=self._status.reconnects + 1, next_retry_at=None)
            else:
                self._set(state=State.CONNECTING)
            attempts += 1
            src = self._source = self._new_source(native=self._native())
            if self._stop_event.is_set() and isinstance(src, NativeSource):
                src.abort()  # stop() came before this source was there to abort
            connected_at = time.monotonic()
            ended_cleanly = False
            # why the camera went offline, said only once the open segment is closed and
            # indexed: whoever sees the state may rely on the footage before it being there
            went: tuple[str, str] | None = None
            try:
                info = src.open()
                if isinstance(src, NativeSource) and not src.supported:
                    src.close()  # a codec the C loop leaves to PyAV
                    src = self._source = self._new_source(native=False)
                    info = src.open()
                self._set(
                    connected_at=time.time(),
                    codec=info.codec,
                    width=info.width,
                    height=info.height,
                )
                ended_cleanly = self._record(src)
                if self._stop_event.is_set():
                    break
                if src.kind is SourceKind.FILE and not self.camera.loop:
                    self._finish_segment()
                    self._went_offline(State.STOPPED, "end of file (set loop: true to replay)")
                    return
                went = (State.OFFLINE, "stream ended: the camera or server went away")
            except SourceError as exc:
                if self._stop_event.is_set():  # stop ended the read (abort_read): the packets
                    ended_cleanly = True  # written so far are whole, close the segment normally
                    break
                went = (State.OFFLINE, str(exc))
            except (StorageError, BurnError) as exc:
                went = (State.ERROR, str(exc))
            except Exception as exc:  # never let one camera's bug kill the thread silently
                log.exception("%s: recorder failed", self.camera.name)
                went = (State.ERROR, f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self._finish_segment(failed=not ended_cleanly)
                if went is not None:
                    self._went_offline(*went)
                src.close()
            if time.monotonic() - connected_at >= self.opt.stable_after_s:
                backoff = self.opt.backoff_initial_s
            self._set(next_retry_at=time.time() + backoff)
            self._stop_event.wait(backoff)
            backoff = min(backoff * 2, self.opt.backoff_max_s)
        self._finish_segment()
        with self._lock:
            self._status.state = State.STOPPED
            self._status.online = False
            self._status.recording = False
            self._status.segment = ""
            self._status.fps = None
            self._status.bitrate_kbps = None

    def _native(self) -> bool:
        """Record this camera with the C copy loop?"""
        return (
            self.opt.copy_loop == "auto"
            and not self.camera.privacy_masks_burn_in
            and copy_loop.supports(source_kind(self.camera.url))
        )

    def _new_source(self, *, native: bool) -> PacketSource | NativeSource:
        if native:
            return NativeSource(
                self.camera.url,
                rtsp_transport=self.camera.rtsp_transport,
                io_timeout_s=self.opt.io_timeout_s,
                watchdog_s=self.opt.watchdog_s,
                max_backstep_s=self.opt.max_backstep_s,
                max_jump_s=self.opt.max_jump_s,
                max_drift_s=self.opt.max_drift_s,
                hold_gop=self.live is not None,
            )
        return PacketSource(
            self.camera.url,
            rtsp_transport=self.camera.rtsp_transport,
            io_timeout_s=self.opt.io_timeout_s,
            loop=self.camera.loop,
            watchdog_s=self.opt.watchdog_s,
        )

    def _finish_segment(self, *, failed: bool = False) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            info = writer.abort() if failed else writer.close()
        except Exception:
            log.exception("%s: closing %s failed", self.camera.name, writer.relpath)
            return
        if info is None:
            return
        self._last_end = max(self._last_end, info.end) if self._last_end else info.end
        with self._lock:
            self._status.segments_written += 1
            self._status.bytes_written += info.size
            self._status.segment = ""
        if self.on_segment is not None:
            try:
                self.on_segment(info)
            except Exception:
                log.exception("%s: segment listener failed", self.camera.name)

    def _open_segment(
        self, template: av.video.stream.VideoStream | NativeSource, start: datetime
    ) -> SegmentWriter:
        if self.opt.disk_check is not None:
            disk = self.opt.disk_check()
            if not disk.ok:
                raise StorageError(f"recording paused: {disk.reason}")
        writer = (NativeSegmentWriter if isinstance(template, NativeSource) else SegmentWriter)(
            self.root,
            self.camera.name,
            start,
            template,
            db=self.db,
            fsync_on_close=self.opt.fsync_on_close,
            fsync_interval_s=self.opt.fsync_interval_s,
        )
        self._writer = writer
        with self._lock:
            self._status.segment = writer.relpath
            self._status.recording = True
        return writer

    def _record(self, src: PacketSource | NativeSource) -> bool:
        """Record until the source ends (True) or stop; raise on failure."""
        if isinstance(src, NativeSource):
            return self._write_native(src)
        if not self.camera.privacy_masks_burn_in:
            return self._write_packets(src.packets(), lambda: src.stream)
        with self._lock:
            burner = self._burner = MaskBurner(
                src.stream,
                self.camera.privacy_masks,
                preset=self.opt.burn_preset,
                max_backstep_s=self.opt.max_backstep_s,
            )
        rate = src.stream.average_rate or src.stream.guessed_rate or 25
        backlog = Backlog(
            src.packets(),
            self._stop_event,
            f"rec-read-{self.camera.name}",
            limit=round(float(rate) * self.opt.burn_backlog_s),
        )
        self._lost = lambda: backlog.dropped + burner.lost
        try:
            return self._write_packets(
                burner.packets(backlog),
                lambda: burner.template,
                cut_on_new_template=True,
                masked=bool(self.camera.privacy_masks),
            )
        finally:
            with self._lock:
                self._note_lost(self._status, time.time())
                self._lost_before += backlog.dropped + burner.lost
                self._lost = None
            if not backlog.close(self.opt.io_timeout_s * 2 + 1):
                # Still inside FFmpeg: closing the container under it could crash the process.
                log.warning("%s: the source reader did not stop; left open", self.camera.name)
                src.container = None
            self._burner = None
            burner.close()

    def _online(self) -> None:
        """The first packet of a connection arrived."""
        with self._lock:
            st = self._status
            st.state = State.ONLINE
            st.online = True
            st.offline_since = None
            st.error = ""
        log.info("%s: online (%s)", self.camera.name, redact_url(self.camera.url))

    def _discontinuity(self, clock: _Clock, step: float, drift: float) -> None:
        log.warning(
            "%s: timestamp discontinuity (dts step %.2f s, drift %.2f s); new segment",
            self.camera.name,
            step,
            drift,
        )
        if self._writer is not None:
            clock.prev_end = self._writer.wall(self._writer.end_s)
        self._finish_segment()
        clock.wall = None

    def _cut(self, clock: _Clock, wall: datetime, now: float, ts: float) -> datetime:
        """Close the open segment at a keyframe at `wall`; where the next one starts (the
        wall clock again, if the camera's clock drifted more than a second)."""
        writer = self._writer
        assert writer is not None
        clock.prev_end = writer.wall(writer.end_s)
        self._finish_segment()
        wall_now = datetime.fromtimestamp(now, UTC)
        if abs((wall - wall_now).total_seconds()) > 1.0:
            clock.anchor(now, ts)
            assert clock.wall is not None
            return clock.wall
        return wall

    def _write_packets(
        self,
        packets: Iterator[av.Packet],
        template: Callable[[], av.video.stream.VideoStream | None],
        *,
        cut_on_new_template: bool = False,
        masked: bool = False,
    ) -> bool:
        """Write packets into segments: cut at keyframes, anchored to the wall clock.
        `template` gives the stream a new segment copies its codec parameters from; with
        `cut_on_new_template`, a new one (a burn-in encoder restarted) ends the open segment.
        `masked`: the packets carry burned-in privacy masks (the live feed says so).
        (A looped file reopens its source: same parameters, so copy keeps its segment.)"""
        seg_len = float(self.camera.segment_seconds)
        opt = self.opt
        stopping = self._stop_event.is_set
        clock = _Clock(self._last_end)  # no overlaps, even across reconnects
        last_dts_s: float | None = None
        first = True
        writer_template: av.video.stream.VideoStream | None = None
        live = self.live.feed(self.camera.name) if self.live is not None else None
        # Per packet only floats and each PyAV property read once (`pkt.time_base` builds a
        # Fraction); datetimes are made at keyframes, where segments open and close.
        for pkt in packets:
            if stopping():
                return True
            tb = pkt.time_base
            num, den = tb.numerator, tb.denominator
            pts, dts = pkt.pts, pkt.dts
            assert pts is not None and dts is not None, "source and burner stamp packets"
            ts = pts * num / den  # == float(pts * tb), without Fraction arithmetic
            dts_s = dts * num / den
            key = pkt.is_keyframe
            now = time.time()
            self._count(now, pkt.size, key)
            if first:
                first = False
                self._online()

            if clock.wall is not None and last_dts_s is not None:
                step = dts_s - last_dts_s
                drift = abs(clock.at + (ts - clock.ts) - now)
                if step < -opt.max_backstep_s or step > opt.max_jump_s or drift > opt.max_drift_s:
                    self._discontinuity(clock, step, drift)
                elif step < 0:  # jitter: the writer places it after the last frame
                    dts_s = last_dts_s
            last_dts_s = dts_s

            if clock.wall is None:
                if not key:
                    continue  # a segment starts at a keyframe
                clock.anchor(now, ts)

            writer = self._writer
            if writer is None or key:
                wall = clock.wall_at(ts)
                current = template()
                assert current is not None, "a packet came before its stream was known"
                if writer is None:
                    writer_template = current
                    writer = self._open_segment(current, wall)
                elif (wall - writer.start).total_seconds() >= seg_len or (
                    cut_on_new_template and current is not writer_template
                ):
                    wall = self._cut(clock, wall, now, ts)
                    writer_template = current
                    writer = self._open_segment(current, wall)
            if live is not None and writer_template is not None:
                live.push(pkt, writer_template, masked=masked, time_base=tb)  # never raises
            writer.write(pkt, tb)
            writer.checkpoint(opt.index_interval_s)
        return True

    def _write_native(self, src: NativeSource) -> bool:
        """`_write_packets` with the C loop: the per-packet part (counts, step and drift checks
        against the anchor set here, muxing) runs in C, and this runs twice a keyframe (before
        it is written and after) and once a packet while a live view is watched."""
        seg_len = float(self.camera.segment_seconds)
        cam = src.cam
        clock = _Clock(self._last_end)
        feed = self.live.feed(self.camera.name) if self.live is not None else None
        codec = src.info.codec if src.info else ""
        live_template: av.video.stream.VideoStream | None = None
        if feed is not None:
            feed.on_wanted = src.want_packets
            if not feed.idle(codec):
                src.want_packets()  # watched already
        frames = size = 0
        key_ts: float | None = None  # the keyframe being written
        try:
            while True:
                event = src.next()
                if event == copy_loop.STOPPED or self._stop_event.is_set():
                    return True
                self._last_packet_at = cam.last_packet_at or None
                self._last_keyframe_at = cam.last_keyframe_at or None
                if cam.frames > frames and not frames:
                    self._online()
                self._add_rate(cam.frames - frames, cam.bytes - size)
                frames, size = cam.frames, cam.bytes
                writer = self._writer
                if isinstance(writer, NativeSegmentWriter):
                    writer.sync()
                    if key_ts is not None and event in (copy_loop.WRITTEN, copy_loop.PACKET):
                        writer.note_keyframe(key_ts)
                        key_ts = None
                        writer.checkpoint(self.opt.index_interval_s)
                if event == copy_loop.KEYFRAME:
                    now, ts = time.time(), cam.ts
                    if clock.wall is None:
                        clock.anchor(now, ts)
                    wall = clock.wall_at(ts)
                    if writer is None:
                        self._open_segment(src, wall)
                    elif (wall - writer.start).total_seconds() >= seg_len:
                        self._open_segment(src, self._cut(clock, wall, now, ts))
                    cam.anchor_at, cam.anchor_ts, cam.anchored = clock.at, clock.ts, 1
                    key_ts = ts
                elif event == copy_loop.STEP:
                    self._discontinuity(clock, cam.step, cam.drift)
                    cam.anchored = 0
                elif event == copy_loop.PACKET and feed is not None:
                    data = src.packet()
                    if live_template is None and cam.key:
                        live_template = src.live_template(data)
                    if live_template is not None:
                        frame = Frame(data, cam.pts, cam.dts, bool(cam.key), src.time_base)
                        feed.push_frame(frame, live_template)  # never raises
                elif event == copy_loop.END:
                    return True
                elif event == copy_loop.ERROR:
                    raise src.failure()
                elif event == copy_loop.WRITE_FAILED:
                    assert isinstance(writer, NativeSegmentWriter)
                    raise writer.write_failed()
                if feed is not None and cam.per_packet and not feed.wanted:
                    src.want_packets(False)  # the last viewer left
                    if feed.idle(codec):
                        cam.live_epoch += 1  # the next viewer gets the GOP so far
                    else:
                        src.want_packets()  # another came meanwhile
        finally:
            if feed is not None:
                feed.on_wanted = None


class _Clock:
    """Where a connection's packets are on the wall clock: `wall` is the wall-clock time of
    stream time `ts` (None: not anchored; the next keyframe anchors), `at` the same as POSIX
    seconds for the per-packet drift check; `prev_end` the end of the last segment, which the
    next never starts before."""

    def __init__(self, prev_end: datetime | None) -> None:
        self.prev_end = prev_end
        self.wall: datetime | None = None
        self.at = 0.0
        self.ts = 0.0

    def anchor(self, now: float, ts: float) -> None:
        """Stream time `ts` is now (or the end of the last segment, if later)."""
        wall_now = datetime.fromtimestamp(now, UTC)
        self.wall = max(wall_now, self.prev_end) if self.prev_end else wall_now
        self.at, self.ts = self.wall.timestamp(), ts

    def wall_at(self, ts: float) -> datetime:
        assert self.wall is not None, "anchored at a keyframe first"
        return self.wall + timedelta(seconds=ts - self.ts)


LOCK_FILE = "recorder.lock"


class RecorderBusyError(VigilError):
    """Another recorder already runs on this data folder."""


def _lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock on `<data_dir>/recorder.lock` (released when the fd closes or the
    process dies, even by kill -9). Two recorders on one folder would fight over the index and
    the repair of one would 'fix' the segments the other is writing."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise RecorderBusyError(
            f"another recorder (pid {holder}) is already recording into {data_dir}",
            hint="stop it first, or give this one another --data-dir",
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _shareable(db: Database | None) -> bool:
    """Can a worker process open this database itself? (Not an in-memory SQLite.)"""
    if db is None:
        return True
    url = db.url
    return not (url == "sqlite://" or (url.startswith("sqlite") and ":memory:" in url))


class RecordingService:
    """Records several cameras in one process. `start()`, then `stop()` (or `run()`)."""

    def __init__(
        self,
        cameras: list[CameraConfig],
        data_dir: Path,
        db: Database | None,
        options: RecorderOptions | None = None,
        on_segment: SegmentListener | None = None,
        write_status_file: bool = True,
        live: LiveFeeds | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.db = db
        self.options = options or RecorderOptions()
        self.on_segment = on_segment
        self.write_status_file = write_status_file
        self.cameras = cameras
        self.recorders: dict[str, CameraRecorder] = {}
        self.workers: list[RecorderWorker] = []
        self.disabled: dict[str, CameraStatus] = {}
        recording: list[CameraConfig] = []
        for cam in cameras:
            if cam.enabled and cam.record:
                recording.append(cam)
            else:
                state, why = not_recording(cam)  # disabled, analysis only, or idle
                self.disabled[cam.name] = CameraStatus(
                    name=cam.name, url=redact_url(cam.url), state=state, error=why
                )
        self.recording_names = [c.name for c in recording]
        per_worker = self.options.cameras_per_worker
        if per_worker is not None and len(recording) > per_worker and _shareable(db):
            worker_options = replace(self.options, disk_check=None)
            for i, group in enumerate(split_groups(recording, per_worker)):
                spec = WorkerSpec(
                    i, group, self.data_dir, db.url if db else None, worker_options, DISK_OK
                )
                worker = RecorderWorker(spec, db, on_segment, self.options.disk_check)
                if live is not None:
                    worker.watch_live(live)
                self.workers.append(worker)
        else:
            for cam in recording:
                self.recorders[cam.name] = CameraRecorder(
                    cam, self.data_dir, db, self.options, on_segment, live
                )
        self._stop_event = threading.Event()
        self._status_thread: threading.Thread | None = None
        self.repair_report: RepairReport | None = None
        self._lock_fd: int | None = None
        # Frames each camera's analysis skipped (`AnalysisService.dropped`, set by whoever runs
        # both), shown in the camera's status beside what recording lost.
        self.analysis_dropped: Callable[[], dict[str, int]] | None = None

    def start(self, *, repair: bool = True, lock: bool = True) -> RepairReport | None:
        """Lock the data folder, repair the index of these cameras, start recording.
        (`lock=False`: a worker process, whose parent holds the lock.)

        Raises RecorderBusyError when another recorder holds the folder."""
        if lock and self._lock_fd is None:
            self._lock_fd = _lock_data_dir(self.data_dir)
        if repair and self.db is not None:
            self.repair_report = repair_index(self.db, self.data_dir, self.recording_names)
        for rec in self.recorders.values():
            rec.start()
        for worker in self.workers:
            worker.start()
        if self.write_status_file or self.workers:
            self._status_thread = threading.Thread(
                target=self._status_loop, name="rec-status", daemon=True
            )
            self._status_thread.start()
        return self.repair_report

    def update_camera(self, camera: CameraConfig) -> None:
        """Hand a camera's settings saved while running (e.g. new privacy masks) to its
        recorder, if it has one."""
        recorder = self.recorders.get(camera.name)
        if recorder is not None:
            recorder.update_camera(camera)
        for worker in self.workers:
            if any(c.name == camera.name for c in worker.spec.cameras):
                worker.update_camera(camera)

    def statuses(self) -> list[CameraStatus]:
        out = [r.status() for r in self.recorders.values()]
        for worker in self.workers:
            out += worker.statuses()
        out += [replace(s) for s in self.disabled.values()]
        if self.analysis_dropped is not None:
            try:
                skipped = self.analysis_dropped()
            except Exception:  # a status without it beats no status
                log.exception("cannot read the analysis frame counters")
                skipped = {}
            for st in out:
                st.analysis_dropped = skipped.get(st.name, 0)
        return sorted(out, key=lambda s: s.name)

    def _persist(self, running: bool = True) -> None:
        try:
            write_status(self.data_dir, self.statuses(), running=running)
        except OSError:
            log.warning("cannot write the camera status file", exc_info=True)

    def _status_loop(self) -> None:
        while not self._stop_event.wait(self.options.status_interval_s):
            self._push_disk_state()
            for worker in self.workers:
                worker.refresh_live()
            if self.write_status_file:
                self._persist()

    def _push_disk_state(self) -> None:
        """Workers ask the disk guard before each segment: hand them its current answer."""
        check = self.options.disk_check
        if check is None or not self.workers:
            return
        try:
            disk = check()
        except Exception:
            log.exception("the disk guard failed")
            return
        for worker in self.workers:
            worker.send("disk", disk)

    def stop(self, timeout: float | None = None) -> None:
        """Ask every recorder to stop, wait for them (segments are closed), persist status."""
        self._stop_event.set()
        for rec in self.recorders.values():
            rec.stop()
        for worker in self.workers:
            worker.stop()
        limit = timeout if timeout is not None else self.options.io_timeout_s * 2 + 5
        deadline = time.monotonic() + limit
        # A recorder with packets flowing stops at its next packet and closes its segment
        # whole; one still inside a read after a moment waits on a silent camera: end the read.
        grace = time.monotonic() + min(1.0, limit / 2)
        for rec in self.recorders.values():
            rec.join(max(0.0, grace - time.monotonic()))
            if rec.is_alive():
                rec.abort_read()
        for worker in self.workers:
            if not worker.join(max(0.1, deadline - time.monotonic())):
                log.warning("recorder worker %d did not stop cleanly", worker.spec.index)
        for rec in self.recorders.values():
            rec.join(max(0.1, deadline - time.monotonic()))
            if rec.is_alive():
                log.warning("%s: recorder did not stop within %.0f s", rec.camera.name, limit)
        if self._status_thread is not None:
            self._status_thread.join(2)
        if self.write_status_file:
            self._persist(running=False)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def wait(self, stop: threading.Event) -> None:
        """Block until `stop` is set, then stop recording."""
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> RecordingService:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
