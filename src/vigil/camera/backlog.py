"""Hand a live stream to a consumer that may fall behind: read in a thread, queue, count drops.

A source read by a slow consumer waits in the socket, where the camera or the network drops
its packets unseen (and a looped file or HLS simply lags). `Handoff` reads the source in a
daemon thread of its own, so it is always drained, and passes items through a queue whose
policy (`admit`) decides, under the lock, what to keep and counts what it drops in `dropped`.
`Backlog` keeps up to `limit` packets and, when full, drops until a keyframe finds room (a
frame without its reference frames cannot be decoded): the recorder's burn-in uses it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

import av

T = TypeVar("T")


class Handoff(Generic[T]):
    """Iterate `source` in a daemon thread; `__iter__` yields what `admit` kept, in order."""

    def __init__(self, source: Iterator[T], stop: threading.Event, name: str) -> None:
        self._source = source
        self._stop = stop
        self._closed = False
        self._cond = threading.Condition()
        self._queue: deque[T] = deque()
        self._done = False
        self._error: BaseException | None = None
        self.received = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    def admit(self, item: T) -> None:
        """Put `item` into `self._queue` or drop it (count it in `dropped`). Under the lock."""
        self._queue.append(item)

    def _read(self) -> None:
        try:
            for item in self._source:
                with self._cond:
                    self.received += 1
                    self.admit(item)
                    self._cond.notify()
                if self._stop.is_set() or self._closed:
                    break
        except BaseException as exc:  # handed to the consumer, which reports it
            self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify()

    def __iter__(self) -> Iterator[T]:
        while True:
            with self._cond:
                while not (self._queue or self._done):
                    self._cond.wait(0.5)
                    if self._stop.is_set() or self._closed:
                        return
                if self._queue:
                    item = self._queue.popleft()
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield item

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the reader thread; True once it has left the source (safe to close it)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self, timeout: float | None = None) -> bool:
        """Stop reading after the current item, then `join`."""
        self._closed = True
        return self.join(timeout)


class Backlog(Handoff[av.Packet]):
    """Up to `limit` packets wait; beyond that packets are dropped up to the next keyframe
    that finds room."""

    def __init__(
        self, source: Iterator[av.Packet], stop: threading.Event, name: str, limit: int
    ) -> None:
        self.limit = max(1, limit)
        self._dropping = False
        super().__init__(source, stop, name)

    def admit(self, item: av.Packet) -> None:
        full = len(self._queue) >= self.limit
        if self._dropping and item.is_keyframe and not full:
            self._dropping = False
        elif full:
            self._dropping = True
        if self._dropping:
            self.dropped += 1
        else:
            self._queue.append(item)
