"""Pixelated renditions of recorded segments for protected viewers (issue 7), on disk.

`<data_dir>/cache/protected/<camera>/<segment id>.mp4` (`-open.mp4` for a segment still being
written, `-from<s>.mp4` for one made from `s` seconds in, because a player cannot seek in a
file that is still growing). A rendition is made in a background thread as a fragmented MP4
written to `.<name>.part` and renamed when complete; `ProtectedCache.stream` serves the part
while it grows, so playback starts after the first fragment (half a second of video) instead
of after the whole segment. Only rendered (pixelated) frames are ever in these files.

`sweep_protected` (`camera.renditions`, re-exported here) removes renditions older than
CACHE_KEEP_S or the camera's footage retention, whichever is sooner, and those whose segment is
gone from the index; the camera retention pass runs it right after deleting segments.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vigil.camera.renditions import CACHE_KEEP_S as CACHE_KEEP_S
from vigil.camera.renditions import cache_root as cache_root
from vigil.camera.renditions import sweep_protected as sweep_protected
from vigil.privacy.redaction import part_path

log = logging.getLogger(__name__)

OPEN_REFRESH_S = 30.0  # a rendition of the segment being written is redone after this
CHUNK = 64 * 1024
POLL_S = 0.05

# render(src, dst, start_s=..., cancel=...): writes the rendition of src from start_s
# (through `part_path(dst)` when it is to be streamed), giving up once `cancel` is set.
Render = Callable[..., object]


@dataclass
class Rendition:
    """One rendition being made (or made): `path` once complete, `part` while growing."""

    path: Path
    start_s: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    cancel: threading.Event = field(default_factory=threading.Event)
    error: str | None = None

    @property
    def part(self) -> Path:
        return part_path(self.path)

    @property
    def ready(self) -> bool:
        """Complete on disk: serve it as a file (range requests, seeking)."""
        return self.done.is_set() and self.error is None and self.path.is_file()

    def wait_first_bytes(self, timeout: float) -> bool:
        """Wait until something can be streamed (or the render ended); False on timeout."""
        deadline = time.monotonic() + timeout
        self.started.wait(timeout)
        while time.monotonic() < deadline:
            if self.done.is_set():
                return True
            with contextlib.suppress(OSError):
                if self.part.stat().st_size > 0:
                    return True
            time.sleep(POLL_S)
        return False


class RenderBusy(RuntimeError):
    """As many renditions as allowed are being made (each takes about a CPU core, which the
    recorders need): the caller is told to retry instead of starving them."""


class ProtectedCache:
    """Renditions of segments, each made once at a time in its own thread, at most `at_once`
    at a time (renders ahead included; joining one already being made is free).

    A complete segment's rendition is kept; the one of the segment still being written is
    redone when older than OPEN_REFRESH_S (not on every range request, or a player would get
    different files while it plays one). At most `ahead` renders ahead of the player run at
    once (the next segment, so that chaining to it finds it ready). A viewer's rendition from
    an offset is cancelled when the same viewer asks for another one on that camera (they
    clicked elsewhere on the time line)."""

    def __init__(self, root: Path, ahead: int = 1, at_once: int = 2) -> None:
        self.root, self.at_once = root, at_once
        self._running: dict[Path, Rendition] = {}
        self._guard = threading.Lock()
        self._ahead = threading.BoundedSemaphore(ahead)
        self._owned: dict[tuple[str, str], Rendition] = {}  # (viewer, camera) -> from-render

    def path_of(
        self, camera: str, segment_id: int, complete: bool = True, start_s: int = 0
    ) -> Path:
        name = f"{segment_id}{'' if complete else '-open'}{f'-from{start_s}' if start_s else ''}"
        return self.root / camera / f"{name}.mp4"

    def start(
        self,
        camera: str,
        segment_id: int,
        src: Path,
        render: Render,
        *,
        complete: bool = True,
        start_s: int = 0,
        owner: str | None = None,
    ) -> Rendition:
        """The rendition of `src` (from `start_s` seconds in): already made, being made, or
        started now. `owner`'s previous rendition from an offset on this camera is cancelled."""
        dst = self.path_of(camera, segment_id, complete, start_s)
        with self._guard:
            r = self._running.get(dst)
        if r is not None and r.cancel.is_set():  # asked for again: let it stop, then redo
            r.done.wait(30)
        with self._guard:
            r = self._running.get(dst)
            if owner is not None:  # they clicked elsewhere: their previous one is not wanted
                before = self._owned.pop((owner, camera), None)
                if before is not None and before is not r:
                    before.cancel.set()
            fresh = r is None or r.done.is_set()
            if fresh and _fresh(dst, complete):
                r = Rendition(dst, start_s)
                r.started.set()
                r.done.set()
            elif fresh:
                if self._busy():
                    raise RenderBusy(f"{self.at_once} pixelated copies are being made")
                r = self._running[dst] = Rendition(dst, start_s)
            assert r is not None, "not fresh: a rendition is running"
            if owner is not None and start_s > 0 and not r.done.is_set():
                self._owned[(owner, camera)] = r
            if not fresh or r.done.is_set():
                return r
        threading.Thread(
            target=self._make, args=(r, src, render, segment_id, complete, None),
            name=f"protected-{camera}-{segment_id}", daemon=True,
        ).start()  # fmt: skip
        return r

    def ahead(self, camera: str, segment_id: int, src: Path, render: Render) -> bool:
        """Render a complete segment before it is asked for, unless cached, already being
        made, or the ahead slots are busy. True when a render was started."""
        dst = self.path_of(camera, segment_id)
        if not self._ahead.acquire(blocking=False):
            return False
        with self._guard:
            made = (dst in self._running and not self._running[dst].done.is_set()) or dst.is_file()
            if made or self._busy():
                self._ahead.release()
                return False
            r = self._running[dst] = Rendition(dst)
        threading.Thread(
            target=self._make, args=(r, src, render, segment_id, True, self._ahead),
            name=f"protected-ahead-{camera}-{segment_id}", daemon=True,
        ).start()  # fmt: skip
        return True

    def _busy(self) -> bool:  # under _guard
        making = (r for r in self._running.values() if not r.done.is_set())
        return sum(not r.cancel.is_set() for r in making) >= self.at_once

    def get(
        self, camera: str, segment_id: int, src: Path, render: Render, *, complete: bool = True
    ) -> Path:
        """The complete rendition of `src`, waiting for it to be made."""
        r = self.start(camera, segment_id, src, render, complete=complete)
        r.done.wait()
        if r.error is not None:
            raise RuntimeError(r.error)
        return r.path

    def _make(
        self,
        r: Rendition,
        src: Path,
        render: Render,
        segment_id: int,
        complete: bool,
        slot: threading.BoundedSemaphore | None,
    ) -> None:
        try:
            r.path.parent.mkdir(parents=True, exist_ok=True)
            r.part.unlink(missing_ok=True)  # a crash's leftover: never mixed into a stream
            r.started.set()
            if r.start_s > 0:
                render(src, r.path, start_s=r.start_s, cancel=r.cancel)
            else:
                render(src, r.path, cancel=r.cancel)
            if complete and r.start_s == 0:  # the whole copy replaces the partial ones
                folder = r.path.parent
                for f in folder.glob(f"{segment_id}-*.mp4"):  # -open, -from<s>
                    f.unlink(missing_ok=True)
        except Exception as exc:  # reported to whoever waits; the next request retries
            if r.cancel.is_set():
                log.info("protected rendition of %s cancelled", src)
            else:
                log.exception("protected rendition of %s failed", src)
            r.error = str(exc) or type(exc).__name__
        finally:
            r.started.set()
            r.done.set()
            if slot is not None:
                slot.release()
            with self._guard:
                if self._running.get(r.path) is r:
                    del self._running[r.path]

    @staticmethod
    def stream(r: Rendition, wait_s: float = 60.0) -> Iterator[bytes]:
        """The bytes of `r` from the start, following the part file while it grows, until the
        render ends. A failed render ends the stream early (the player keeps what it got)."""
        r.started.wait(wait_s)
        f = None
        deadline = time.monotonic() + wait_s
        while f is None:
            for p in (r.part, r.path):
                with contextlib.suppress(FileNotFoundError):
                    f = open(p, "rb")  # noqa: SIM115 (closed below; outlives the rename)
                    break
            if f is None:
                if (r.done.is_set() and not r.path.is_file()) or time.monotonic() > deadline:
                    return
                time.sleep(POLL_S)
        with f:
            while True:
                data = f.read(CHUNK)
                if data:
                    yield data
                    continue
                if r.done.is_set():
                    while rest := f.read(CHUNK):  # written between the read and the check
                        yield rest
                    return
                time.sleep(POLL_S)


def _fresh(dst: Path, complete: bool) -> bool:
    if not dst.is_file():
        return False
    return complete or time.time() - dst.stat().st_mtime < OPEN_REFRESH_S
