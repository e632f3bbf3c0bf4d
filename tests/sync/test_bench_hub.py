"""`vigil bench hub` runs to the end on work-queue site streams (a drained backlog is gone, and
a stream takes one consumer at a time), here at its smallest size."""

from __future__ import annotations

import pytest

from vigil.bench import hub as bench_hub
from vigil.sync.server import find_binary


@pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
@pytest.mark.timeout(60)
def test_bench_hub_drains_both_backlogs() -> None:
    figures = {f.name: f for f in bench_hub.run(sites=1, seconds=0.5, backlog=1000, log=print)}
    drain = figures["drain a 1,000-event backlog"]
    assert drain.value < 30 and drain.baseline is not None and drain.baseline < 30
    assert next(f for n, f in figures.items() if n.startswith("sustained")).value > 0
