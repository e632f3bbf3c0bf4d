"""Recorder worker processes: each records a group of cameras; the service supervises them.

32 cameras in one process share one interpreter lock, and the packet loop of each is Python;
switching that lock between 32 threads cost more than the copying itself (0072). So past
`cameras_per_worker` cameras, `RecordingService` splits its cameras into groups and runs each
group's `CameraRecorder` threads in a worker process of its own (forked from a forkserver
that has the recorder imported, so the workers share those pages).

A worker is the in-process recorder unchanged (fMP4 fragments, index rows written by the
worker as segments close, wall-clock anchoring, watchdog, backoff); what crosses the pipe:
- to the worker: the disk guard's state (`DiskState`, pushed every status tick: the worker
  asks it before each new segment), a camera's new settings, the cameras someone watches
  live here, stop;
- from the worker: every camera's `CameraStatus` each status tick, each closed segment
  (`SegmentInfo`) for the service's `on_segment` listener, and the live stream of each watched
  camera (`LiveRelay`: init segments and fragments, muxed in the worker from the packets it
  records, never a second connection to the camera; decision 0076).
A worker that dies (killed, crashed inside FFmpeg) is noticed at once (its pipe closes): its
cameras show `error` with the reason, the segments it left open are repaired, and it is
started again with capped exponential backoff. Cameras in other workers go on untouched.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import multiprocessing.connection
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from vigil.camera.footage_retention import DiskState
from vigil.camera.index import repair_index
from vigil.camera.live_feed import LiveFeed, LiveFeeds, Tap
from vigil.camera.segment import SegmentInfo
from vigil.camera.source import redact_url
from vigil.camera.status import CameraStatus, State
from vigil.config import CameraConfig

log = logging.getLogger(__name__)

# The disk guard's state before the parent's first push: recording may start.
DISK_OK = DiskState(ok=True, free_bytes=0)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process is started with (pickled to it)."""

    index: int
    cameras: list[CameraConfig]
    data_dir: Path
    db_url: str | None
    options: Any  # RecorderOptions without its disk_check (a callable of the parent)
    disk: DiskState
    log_level: int = logging.WARNING  # the parent's: records below it are not sent
    live: bool = False  # the parent has live feeds: watched cameras' streams are relayed


class LiveRelay:
    """Worker side of the live view: the taps of watched cameras' feeds put their messages
    in a bounded queue that one thread sends down the pipe, so a slow pipe never holds a
    recorder. A camera whose message found the queue full is cut off until its next keyframe,
    then starts over with a reset and its init segment (the parent's viewers see a restart,
    never a torn stream)."""

    def __init__(self, send: Callable[[tuple[str, Any]], None], limit: int = 300) -> None:
        self._send = send
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue(limit)
        self._inits: dict[str, bytes] = {}
        self._cut: set[str] = set()  # cameras waiting for a keyframe after an overflow
        self._thread = threading.Thread(target=self._run, name="live-relay", daemon=True)
        self._thread.start()

    def tap(self, feed: LiveFeed) -> Tap:
        camera = feed.camera

        def put(event: str, data: bytes, key: bool) -> bool:
            msg = (camera, event, data, key, feed.codec, feed.masked)
            try:
                self._queue.put_nowait(("live", msg))
                return True
            except queue.Full:
                return False

        def tap(event: str, data: bytes, key: bool) -> None:
            if event == "init":
                self._inits[camera] = data
            if camera in self._cut:
                if not (event == "fragment" and key) or self._queue.qsize() > self.room():
                    return
                self._cut.discard(camera)
                put("reset", b"", False)
                put("init", self._inits.get(camera, b""), False)
            if not put(event, data, key):
                self._cut.add(camera)

        return tap

    def room(self) -> int:
        return self._queue.maxsize - 3  # a restart is three messages

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1)
        self._thread.join(2)

    def _run(self) -> None:
        while (msg := self._queue.get()) is not None:
            try:
                self._send(msg)
            except OSError:  # the parent is gone
                return


def split_groups(cameras: list[CameraConfig], per_worker: int) -> list[list[CameraConfig]]:
    """Cameras dealt round-robin into ceil(n / per_worker) groups of near-equal size."""
    n = max(1, -(-len(cameras) // max(1, per_worker)))
    groups: list[list[CameraConfig]] = [[] for _ in range(n)]
    for i, cam in enumerate(cameras):
        groups[i % n].append(cam)
    return [g for g in groups if g]


def _context() -> multiprocessing.context.ForkServerContext:
    # forkserver: children are forked from a clean single-threaded server that has the
    # recorder imported (shared pages, start in milliseconds), never from a threaded parent
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["vigil.camera.workers", "vigil.camera.recorder"])
    return ctx


# --- the worker process ---------------------------------------------------------------------


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Entry point of a worker process: record `spec.cameras` until told to stop or the
    parent goes away (its end of the pipe closes)."""
    from vigil.camera.recorder import RecordingService
    from vigil.store.db import Database

    send_lock = threading.RLock()  # a record logged while sending must not deadlock
    disk = [spec.disk]

    def send(msg: tuple[str, Any]) -> None:
        with send_lock:
            conn.send(msg)

    class ToParent(logging.Handler):
        """Log records go to the parent's logging, configured as the operator set it."""

        def emit(self, record: logging.LogRecord) -> None:
            with contextlib.suppress(Exception):
                send(("log", (record.name, record.levelno, self.format(record))))

    root = logging.getLogger()
    root.handlers[:] = [ToParent()]
    root.setLevel(spec.log_level)

    def on_segment(info: SegmentInfo) -> None:
        with contextlib.suppress(OSError):  # the parent is gone; the row is written already
            send(("segment", info))

    db = Database(spec.db_url, migrate=False) if spec.db_url else None
    # the group records here, in threads: never split again
    options = replace(spec.options, disk_check=lambda: disk[0], cameras_per_worker=None)
    live = LiveFeeds() if spec.live else None
    relay = LiveRelay(send) if live is not None else None
    service = RecordingService(
        spec.cameras,
        spec.data_dir,
        db,
        options,
        on_segment=on_segment,
        write_status_file=False,
        live=live,
    )
    # Everything alive now (modules, config, the database's engine) lives as long as the
    # process: out of the collector's reach, full collections no longer walk it per packet
    # burst (they were a third of a 32-camera recorder's samples, 0072).
    gc.freeze()
    service.start(repair=False, lock=False)
    interval = options.status_interval_s
    next_status = time.monotonic()
    try:
        while True:
            wait = max(0.0, next_status - time.monotonic())
            if conn.poll(wait):
                kind, body = conn.recv()
                if kind == "stop":
                    break
                if kind == "disk":
                    disk[0] = body
                elif kind == "camera":
                    service.update_camera(body)
                elif kind == "live" and live is not None and relay is not None:
                    for cam in spec.cameras:
                        feed = live.feed(cam.name)
                        feed.set_tap(relay.tap(feed) if cam.name in body else None)
                continue
            send(("status", service.statuses()))
            next_status = time.monotonic() + interval
    except (EOFError, OSError):  # the parent went away: stop recording cleanly
        pass
    finally:
        service.stop()
        if relay is not None:
            relay.close()
        try:
            send(("status", service.statuses()))
            send(("stopped", None))
        except OSError:
            pass
        conn.close()
        if db is not None:
            db.engine.dispose()


# --- the parent's side ----------------------------------------------------------------------


class RecorderWorker:
    """The parent's handle on one worker process: starts it, reads its messages in a thread,
    restarts it when it dies, and keeps the last status of each of its cameras."""

    def __init__(
        self,
        spec: WorkerSpec,
        db: Any,
        on_segment: Callable[[SegmentInfo], None] | None,
        disk_check: Callable[[], DiskState] | None,
    ) -> None:
        self.spec = spec
        self.db = db
        self.on_segment = on_segment
        self.disk_check = disk_check
        self.restarts = 0
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = threading.Event()  # the worker said it stopped (segments closed)
        self._statuses: dict[str, CameraStatus] = {
            c.name: CameraStatus(name=c.name, url=redact_url(c.url), state=State.STARTING)
            for c in spec.cameras
        }
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._thread: threading.Thread | None = None
        # live view: this process's feeds of the worker's cameras (`watch_live`)
        self.feeds: dict[str, LiveFeed] = {}
        self.live_idle_s = 10.0
        self._watched_at: dict[str, float] = {}
        self._asked: frozenset[str] | None = None  # the cameras the running worker relays

    def watch_live(self, feeds: LiveFeeds) -> None:
        """Relay the worker's cameras into `feeds` while someone watches them."""
        self.spec = replace(self.spec, live=True)
        self.live_idle_s = feeds.idle_s
        for cam in self.spec.cameras:
            self.feeds[cam.name] = feeds.attach(cam.name, on_watch=self.refresh_live)

    def refresh_live(self) -> None:
        """Tell the worker which cameras are watched (or were, within `live_idle_s`: a quick
        return needs no new keyframe); called when a viewer arrives and every status tick."""
        now = time.monotonic()
        with self._lock:
            for name, feed in self.feeds.items():
                if feed.viewers:
                    self._watched_at[name] = now
            wanted = frozenset(n for n, t in self._watched_at.items() if now - t < self.live_idle_s)
            asked = self._asked
            if wanted == asked:
                return
            self._asked = wanted  # before sending: the worker's answer may come back at once
        if not self.send("live", wanted):
            with self._lock:
                self._asked = asked
            return
        for name in (self.feeds.keys() if asked is None else asked) - wanted:
            # the worker stopped muxing it: a later viewer waits for a new init
            self.feeds[name].relay("reset", b"", False, "", False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._supervise, name=f"rec-worker-{self.spec.index}", daemon=True
        )
        self._thread.start()

    def statuses(self) -> list[CameraStatus]:
        with self._lock:
            return [replace(s) for s in self._statuses.values()]

    def send(self, kind: str, body: object) -> bool:
        """Hand the running worker a message; dropped (False) when it is between lives (a
        restarted worker starts with the current disk state and camera settings, and is told
        the watched cameras at the next status tick)."""
        conn = self._conn
        if conn is None:
            return False
        try:
            with self._send_lock:
                conn.send((kind, body))
        except (OSError, ValueError):
            return False
        return True

    def update_camera(self, camera: CameraConfig) -> None:
        with self._lock:
            cams = [camera if c.name == camera.name else c for c in self.spec.cameras]
            self.spec = replace(self.spec, cameras=cams)
        self.send("camera", camera)

    def stop(self) -> None:
        self._stopping.set()
        self.send("stop", None)

    def join(self, timeout: float) -> bool:
        """Wait for the worker to close its segments and exit; kill it past `timeout` (the
        index is repaired as after any crash). True when it stopped by itself."""
        if self._thread is not None:
            self._thread.join(timeout)  # ends once the worker's pipe closes
        proc = self._proc
        if proc is not None and proc.is_alive():
            log.warning("recorder worker %d did not stop; killed", self.spec.index)
            proc.kill()
            proc.join(5)
            if self._thread is not None:
                self._thread.join(5)
        clean = self._stopped.is_set()
        if not clean:
            with self._lock:
                for st in self._statuses.values():
                    st.state, st.online, st.recording = State.STOPPED, False, False
                    st.segment, st.fps, st.bitrate_kbps = "", None, None
            self._repair()
        return clean

    # --- supervision --------------------------------------------------------------------

    def _supervise(self) -> None:
        opt = self.spec.options
        backoff = opt.backoff_initial_s
        while not self._stopping.is_set():
            started = time.monotonic()
            code = self._run_once()
            if self._stopping.is_set() or self._stopped.is_set():
                return
            self.restarts += 1
            if time.monotonic() - started >= opt.stable_after_s:
                backoff = opt.backoff_initial_s
            why = f"recorder worker process exited (exit code {code}); restarting"
            log.warning("recorder worker %d: %s", self.spec.index, why)
            self._mark_down(why, time.time() + backoff)
            self._repair()
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, opt.backoff_max_s)

    def _run_once(self) -> int | None:
        ctx = _context()
        parent, child = ctx.Pipe()
        disk = DISK_OK
        if self.disk_check is not None:
            try:
                disk = self.disk_check()
            except Exception:
                log.exception("the disk guard failed; the worker starts without it")
        with self._lock:
            spec = replace(self.spec, disk=disk, log_level=_effective_level())
        proc = ctx.Process(
            target=worker_main,
            args=(spec, child),
            name=f"vigil-rec-{spec.index}",
            daemon=True,
        )
        try:
            proc.start()
        except Exception:
            log.exception("recorder worker %d could not start", spec.index)
            parent.close()
            child.close()
            return None
        child.close()
        with self._lock:
            self._asked = None  # a new worker relays nothing until told
        self._proc, self._conn = proc, parent
        if self._stopping.is_set():  # stop() came while it was starting
            self.send("stop", None)
        else:
            self.refresh_live()
        try:
            while True:
                kind, body = parent.recv()
                if kind == "status":
                    with self._lock:
                        for st in body:
                            st.reconnects += self.restarts  # each restart reconnected it
                            self._statuses[st.name] = st
                elif kind == "segment" and self.on_segment is not None:
                    try:
                        self.on_segment(body)
                    except Exception:
                        log.exception("segment listener failed")
                elif kind == "live":
                    camera, event, data, key, codec, masked = body
                    feed = self.feeds.get(camera)
                    # not after it was dropped: what was still in the pipe is for nobody
                    if feed is not None and camera in (self._asked or ()):
                        feed.relay(event, data, key, codec, masked)
                elif kind == "log":
                    name, level, text = body
                    logging.getLogger(name).log(level, "%s", text)
                elif kind == "stopped":
                    self._stopped.set()
        except (EOFError, OSError):
            pass
        finally:
            self._conn = None
            parent.close()
        why = "recording stopped" if self._stopping.is_set() else "the recorder restarted"
        for feed in self.feeds.values():
            feed.end(why)
        proc.join(5)
        return proc.exitcode

    def _mark_down(self, why: str, retry_at: float) -> None:
        now = time.time()
        with self._lock:
            for st in self._statuses.values():
                if st.offline_since is None or st.online:
                    st.offline_since = now
                st.online = False
                st.recording = False
                st.state = State.ERROR
                st.error = why
                st.error_at = now
                st.segment = ""
                st.fps = None
                st.bitrate_kbps = None
                st.next_retry_at = retry_at

    def _repair(self) -> None:
        """Close what the dead worker left open: torn fragments cut, rows completed."""
        if self.db is None:
            return
        names = [c.name for c in self.spec.cameras]
        try:
            repair_index(self.db, self.spec.data_dir, names)
        except Exception:
            log.exception("recorder worker %d: repairing its cameras failed", self.spec.index)


def _effective_level() -> int:
    """The lowest level the parent would print for the recorder's loggers."""
    return logging.getLogger("vigil.camera").getEffectiveLevel()
