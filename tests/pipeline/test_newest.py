"""`NewestOnly`: a slow consumer gets the newest item and the rest are dropped, in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from vigil.pipeline.newest import NewestOnly


def ticking(n: int, every_s: float) -> Iterator[int]:
    for i in range(n):
        time.sleep(every_s)
        yield i


def test_slow_consumer_gets_newest_items_in_order_and_the_rest_are_counted_as_dropped() -> None:
    stream = NewestOnly(ticking(40, 0.01), threading.Event())
    taken = []
    for item in stream:
        taken.append(item)
        time.sleep(0.05)  # five items arrive while one is "analysed"
    stream.join(2)
    assert taken[-1] == 39, "the last item is never lost"
    assert taken == sorted(set(taken))
    assert 3 < len(taken) < 20
    assert stream.received == 40
    assert stream.dropped == 40 - len(taken)


def test_fast_consumer_drops_nothing() -> None:
    stream = NewestOnly(ticking(10, 0.01), threading.Event())
    assert list(stream) == list(range(10))
    assert stream.dropped == 0


def test_source_error_reaches_the_consumer_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("camera gone")

    stream = NewestOnly(failing(), threading.Event())
    got = []
    with pytest.raises(RuntimeError, match="camera gone"):
        for item in stream:
            got.append(item)
    assert got == [1]


def test_stop_ends_the_consumer_while_the_source_is_silent() -> None:
    stop = threading.Event()

    def silent() -> Iterator[int]:
        while not stop.is_set():
            time.sleep(0.05)
        yield from ()

    stream = NewestOnly(silent(), stop)
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - t0 < 2
