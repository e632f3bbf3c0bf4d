"""`vigil bench api` at a small scale: the workload runs and its figures make sense."""

from __future__ import annotations

import pytest

from vigil.bench import api as bench_api

pytestmark = pytest.mark.timeout(90)


def test_stamped_jpeg_round_trip() -> None:
    import cv2
    import numpy as np

    jpeg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    stamped = bench_api.stamped_jpeg(jpeg, 1234.5)
    assert bench_api.stamp_of(stamped) == pytest.approx(1234.5)
    assert cv2.imdecode(np.frombuffer(stamped, np.uint8), cv2.IMREAD_COLOR).shape == (16, 16, 3)


def test_small_bench_runs() -> None:
    figs = {f.name: f for f in bench_api.events_figures(3000, repeat=1)}
    assert figs["events: first page (no filter), as shipped"].baseline is not None
    assert all(f.value > 0 for f in figs.values())
    live = {f.name.split(",")[0]: f for f in bench_api.live_figures(viewers=4, seconds=1.5)}
    assert live["live: decoder threads with 4 viewers"].value == 1
    slowest = next(f for n, f in live.items() if n.startswith("live: fps of the slowest"))
    assert slowest.value >= 5  # source 10 fps, loopback
