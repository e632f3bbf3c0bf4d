"""`GET /cameras/{cam}/zones/occupancy`: people now, the most in a range and per minute."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

from tests.api.helpers import Client
from vigil.api import ApiContext
from vigil.config import ZoneConfig
from vigil.pipeline.occupancy import OccupancyRecorder

URL = "/api/v1/cameras/lobby/zones/occupancy"


def test_occupancy_now_max_and_series(
    clients: dict[str, Client], anon: Client, ctx: ApiContext
) -> None:
    cam = ctx.config.cameras[0]
    zones = [
        ZoneConfig(name="door", kind="doorway", polygon=[(0, 0), (0.5, 0), (0, 0.5)]),
        ZoneConfig(name="till", kind="restricted", polygon=[(0.5, 0.5), (1, 0.5), (1, 1)]),
    ]
    ctx.config.cameras[0] = cam.model_copy(update={"zones": zones})
    # Three minutes of counts ending now, one frame a second: 1, then 4, then 2 people.
    now = time.time()
    first = math.floor(now / 60) * 60 - 120
    rec = OccupancyRecorder("lobby", ctx.db)
    t = first
    while t <= now:
        rec.update(t, {"door": 1 if t < first + 60 else 4 if t < first + 120 else 2})
        t += 1
    rec.update(now, {"door": 2})
    rec.update(now + 0.5, {"door": 2})  # the open minute written (flush)

    v = clients["viewer"]
    r = v.get(URL, params={"start": datetime.fromtimestamp(first - 600, UTC).isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["camera"] == "lobby" and body["step_s"] == 60
    door, till = body["zones"]
    assert door["zone"] == "door" and door["now"] == 2 and door["max"] == 4
    assert datetime.fromisoformat(door["max_at"]) == datetime.fromtimestamp(first + 60, UTC)
    assert [p["max"] for p in door["series"]] == [1, 4, 2]
    assert door["series"][0]["mean"] == 1.0 and door["series"][0]["seconds"] == 60.0
    assert till == {
        "zone": "till",
        "now": None,
        "now_at": None,
        "max": 0,
        "max_at": None,
        "mean": 0.0,
        "seconds": 0.0,
        "series": [],
    }
    # A range before any data: the series is empty, "now" is still live.
    old = datetime.now(UTC) - timedelta(days=3)
    r = v.get(URL, params={"start": old.isoformat(), "end": (old + timedelta(hours=1)).isoformat()})
    assert r.json()["zones"][0]["series"] == [] and r.json()["zones"][0]["now"] == 2

    assert clients["operator"].get(URL).status_code == 200
    assert clients["auditor"].get(URL).status_code == 403
    assert anon.get(URL).status_code == 401
    assert v.get("/api/v1/cameras/nope/zones/occupancy").status_code == 404
    reversed_ = {"start": datetime.now(UTC).isoformat(), "end": old.isoformat()}
    assert v.get(URL, params=reversed_).status_code == 422
    assert v.get(URL, params={"start": "2026-01-01T00:00:00"}).status_code == 422  # no zone
