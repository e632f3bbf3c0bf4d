"""`vigil bench notify` runs and reports plausible loopback latencies."""

from __future__ import annotations

import pytest

from vigil.bench.notify import measure
from vigil.notify.broker import mosquitto_path


def test_bench_notify_smoke() -> None:
    if mosquitto_path() is None:
        pytest.skip("mosquitto not installed (scripts/system-deps.sh test)")
    m = measure(events=20)
    assert 0 < m["raw_p50_ms"] <= m["p50_ms"] <= m["p90_ms"] < 500
