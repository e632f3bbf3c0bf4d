"""A bound on a blocked FFmpeg read that costs nothing while packets flow (decision 0075).

PyAV bounds reads with FFmpeg's interrupt callback, which takes the interpreter lock each time
FFmpeg polls it (several times a packet) whenever a timeout is set: for a recorder of 16
cameras, a sixth of its CPU. The callback reads the timeout from the container itself (PyAV's
`timeout_info`: the read's start time, then the timeout in seconds; below zero means none,
and the callback then returns without taking the lock).

A `ReadGuard` finds that field once, by the value PyAV wrote there for the first read, and
sets it below zero; a watchdog thread (one a process) sets it to zero for a read blocked longer
than the limit, so FFmpeg's next poll (at most 100 ms later) ends that read with
`av.ExitError`, exactly as PyAV's own timeout would. If the field is not found exactly once
(another PyAV layout), the guard stays unarmed and PyAV's timeout keeps bounding the reads.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
import threading
import time

import av

log = logging.getLogger(__name__)

_DOUBLE = struct.Struct("d")
POLL_S = 0.25  # how often the watchdog looks; a read ends at most this much past its limit


def timeout_field(container: av.container.InputContainer, timeout_s: float) -> int | None:
    """Offset of PyAV's read timeout inside `container` while a read of `timeout_s` is under
    way: the only aligned double equal to `timeout_s` preceded by a plausible start time."""
    size = type(container).__basicsize__
    raw = ctypes.string_at(id(container), size)
    want = _DOUBLE.pack(float(timeout_s))
    now = time.monotonic()
    found = [
        off
        for off in range(8, size - 7, 8)
        if raw[off : off + 8] == want and now - 3600 < _DOUBLE.unpack_from(raw, off - 8)[0] <= now
    ]
    return found[0] if len(found) == 1 else None


class ReadGuard:
    """Bounds the reads of one container's `demux()` at `limit_s` (its PyAV read timeout).

    The reader sets `reading_since` (monotonic) before each read and None after it, and calls
    `arm()` once the first read has returned."""

    def __init__(self, container: av.container.InputContainer, limit_s: float) -> None:
        self._container = container  # kept alive while the watchdog may write into it
        self.limit_s = limit_s
        self.reading_since: float | None = None
        self.armed = False
        self.expired = False
        self._field: ctypes.c_double | None = None

    def arm(self) -> bool:
        """Take over PyAV's timeout (call during the container's first `demux()`)."""
        if self.armed:
            return True
        offset = timeout_field(self._container, self.limit_s)
        if offset is None:
            log.debug("PyAV's read timeout field not found; PyAV keeps bounding reads")
            return False
        self._field = ctypes.c_double.from_address(id(self._container) + offset)
        self._field.value = -1.0
        self.armed = True
        WATCHDOG.add(self)
        return True

    def expire(self) -> None:
        """End the read under way (or the next one) at FFmpeg's next poll."""
        target = self._field  # read once: `release()` may clear it meanwhile
        if target is not None:
            self.expired = True
            target.value = 0.0

    def release(self) -> None:
        """The reads are over: the watchdog forgets this container."""
        WATCHDOG.discard(self)
        self._field = None
        self.armed = False


class _Watchdog:
    """One daemon thread a process, started by the first armed guard."""

    def __init__(self) -> None:
        self._guards: set[ReadGuard] = set()
        self._lock = threading.Lock()
        self._pid = 0

    def add(self, guard: ReadGuard) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first guard here, or in a forked child
                self._pid = os.getpid()
                self._guards.clear()
                threading.Thread(target=self._run, name="read-watchdog", daemon=True).start()
            self._guards.add(guard)

    def discard(self, guard: ReadGuard) -> None:
        with self._lock:
            self._guards.discard(guard)

    def _run(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(POLL_S)
            now = time.monotonic()
            with self._lock:
                guards = list(self._guards)
            for guard in guards:
                since = guard.reading_since
                if since is not None and now - since > guard.limit_s and not guard.expired:
                    guard.expire()


WATCHDOG = _Watchdog()
