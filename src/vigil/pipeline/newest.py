"""Hand a slow consumer the newest item of a live stream, dropping the ones it had no time for.

Analysis decodes and analyses in one loop; when a frame takes longer to analyse than the
interval between frames, the camera's packets wait in the socket and every later frame (and the
live view made from it) is late by the whole backlog, which only grows. Decoding in its own
thread and analysing only the newest decoded frame bounds that delay to about one decode plus
one analysis, whatever the load (`vigil bench api --glass` shows both). `dropped` counts the
frames analysis never saw (shown in the camera's status).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TypeVar

from vigil.camera.backlog import Handoff

T = TypeVar("T")


class NewestOnly(Handoff[T]):
    """Iterate `source` in a daemon thread; `__iter__` yields the newest item not yet taken."""

    def __init__(self, source: Iterator[T], stop: threading.Event, name: str = "newest") -> None:
        super().__init__(source, stop, name)

    def admit(self, item: T) -> None:
        self.dropped += len(self._queue)  # items replaced before the consumer took them
        self._queue.clear()
        self._queue.append(item)
