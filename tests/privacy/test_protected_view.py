"""Protected-view parts without a server: frame pixelation, rendition cache, unmask grants."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from vigil.privacy import protected_view
from vigil.privacy.protected_view import ProtectedCache, UnmaskGrants, protect_frame


def test_protect_frame_pixelates_boxes_only_and_unknown_people_everywhere() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), np.uint8)
    out = protect_frame(img, [(40, 30, 40, 50)])
    assert np.array_equal(out[:, :30], img[:, :30])  # outside the (grown) box: untouched
    inside = out[40:70, 50:70].astype(int)
    assert not np.array_equal(inside, img[40:70, 50:70])
    assert len(np.unique(inside.reshape(-1, 3), axis=0)) < 20  # a few cells, not noise
    whole = protect_frame(img, None)
    assert len(np.unique(whole.reshape(-1, 3), axis=0)) <= protected_view.WHOLE_FRAME_BLOCKS**2
    assert np.array_equal(protect_frame(img, []), img)
    assert not np.shares_memory(protect_frame(img, []), img)  # always a copy


def test_cache_renders_once_and_redoes_an_open_segment_later(tmp_path: Path) -> None:
    src = tmp_path / "seg.mp4"
    src.write_bytes(b"x" * 10)
    made: list[Path] = []

    def render(s: Path, d: Path, **_: object) -> None:
        made.append(d)
        d.write_bytes(s.read_bytes())

    cache = ProtectedCache(tmp_path / "cache")
    open_path = cache.get("cam", 7, src, render, complete=False)
    assert cache.get("cam", 7, src, render, complete=False) == open_path and len(made) == 1
    old = time.time() - protected_view.OPEN_REFRESH_S - 1
    os.utime(open_path, (old, old))
    cache.get("cam", 7, src, render, complete=False)
    assert len(made) == 2  # the open segment grew: redone
    done = cache.get("cam", 7, src, render, complete=True)
    assert done.name == "7.mp4" and not open_path.exists() and len(made) == 3
    os.utime(done, (old, old))
    assert cache.get("cam", 7, src, render) == done and len(made) == 3  # complete: kept


def test_grants_end_on_time_and_belong_to_one_viewer_and_camera() -> None:
    now = [1000.0]
    grants = UnmaskGrants(clock=lambda: now[0])
    assert grants.grant("session:1", "door", 10) == 1600.0
    assert grants.until("session:1", "door") == 1600.0
    assert grants.until("session:2", "door") is None
    assert grants.until("session:1", "yard") is None
    now[0] = 1600.0
    assert grants.until("session:1", "door") is None


def test_bench_reports_live_and_recorded_figures_beside_baselines(testdata: Path) -> None:
    from vigil.bench import privacy_view as bench

    live, recorded, wait = bench.run(
        testdata / "video" / "vtest.avi", seconds=2.0, fps=10, frames=8
    )
    for fig in (live, recorded, wait):
        assert fig.value > 0 and fig.baseline is not None and fig.baseline > 0
    assert live.unit == "ms" and recorded.unit == "x real time" and wait.unit == "s"
    assert wait.value < wait.baseline  # the first fragment comes before the whole file


def test_cache_makes_at_most_at_once_renditions_and_joining_one_is_free(tmp_path: Path) -> None:
    """Each rendition takes about a CPU core the recorders need: beyond `at_once` a new one
    is refused (the API answers 503, retry), asking again for one being made is not, and a
    viewer's render they left (clicked elsewhere) stops counting."""
    import threading

    import pytest

    from vigil.privacy.protected_cache import RenderBusy

    src = tmp_path / "seg.mp4"
    src.write_bytes(b"x")
    go = threading.Event()

    def render(s: Path, d: Path, cancel: threading.Event, **_: object) -> None:
        while not (go.is_set() or cancel.is_set()):
            time.sleep(0.01)
        d.write_bytes(s.read_bytes())

    cache = ProtectedCache(tmp_path / "cache", at_once=1)
    first = cache.start("cam", 1, src, render, start_s=10, owner="ann")
    assert cache.start("cam", 1, src, render, start_s=10) is first  # joined
    with pytest.raises(RenderBusy):
        cache.start("cam", 2, src, render)
    assert not cache.ahead("cam", 3, src, render)  # no render ahead while busy either
    # Ann clicks elsewhere: her first render is cancelled and frees the slot for the new one
    second = cache.start("cam", 4, src, render, start_s=20, owner="ann")
    assert first.cancel.is_set() and second is not first
    go.set()
    assert second.done.wait(5) and second.ready
    assert cache.start("cam", 2, src, render).done.wait(5)  # free again
