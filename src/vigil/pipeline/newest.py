"""Hand a slow consumer the newest item of a live stream, dropping the ones it had no time for.

Analysis decodes and analyses in one loop; when a frame takes longer to analyse than the
interval between frames, the camera's packets wait in the socket and every later frame (and the
live view made from it) is late by the whole backlog, which only grows. Decoding in its own
thread and analysing only the newest decoded frame bounds that delay to about one decode plus
one analysis, whatever the load (`vigil bench api --glass` shows both).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class NewestOnly(Generic[T]):
    """Iterate `source` in a daemon thread; `__iter__` yields the newest item not yet taken."""

    def __init__(self, source: Iterator[T], stop: threading.Event, name: str = "newest") -> None:
        self._source = source
        self._stop = stop
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._done = False
        self._error: BaseException | None = None
        self.received = 0
        self.dropped = 0  # items replaced before the consumer took them
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for item in self._source:
                with self._cond:
                    self.received += 1
                    self.dropped += int(self._has_item)
                    self._item, self._has_item = item, True
                    self._cond.notify()
                if self._stop.is_set():
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
                while not (self._has_item or self._done):
                    self._cond.wait(0.5)
                    if self._stop.is_set():
                        return
                if self._has_item:
                    item, self._item, self._has_item = self._item, None, False
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield item  # type: ignore[misc]

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
