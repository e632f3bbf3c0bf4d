"""Camera health over the API and the CLI: open alarms with their before and after pictures,
the reference, accepting a new view (admins only), the alarm in the events list."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.api.helpers import Client
from vigil.api import ApiContext
from vigil.camera.health import HealthChange
from vigil.cli import run
from vigil.events.health import HealthAlarms
from vigil.store.enums import HealthCondition
from vigil.vision.image import encode_jpeg


def _covered(ctx: ApiContext) -> str:
    alarms = HealthAlarms(ctx.db, ctx.data_dir)
    street = np.random.default_rng(2).integers(0, 255, (288, 384, 3), np.uint8)
    alarms.save_reference("lobby", encode_jpeg(street), time.time() - 300)
    change = HealthChange("lobby", HealthCondition.covered, True, time.time() - 20, {"std": 0.4})
    event = alarms.apply(change, snapshot_jpeg=encode_jpeg(np.zeros((288, 384, 3), np.uint8)))
    assert event is not None
    return event.uid


def test_health_summary_pictures_and_accepting_a_view(
    ctx: ApiContext, clients: dict[str, Client]
) -> None:
    uid = _covered(ctx)
    viewer, admin = clients["viewer"], clients["admin"]
    lobby, yard = viewer.get("/api/v1/health/cameras").json()
    assert lobby["camera"] == "lobby" and lobby["enabled"] and not lobby["healthy"]
    assert yard["camera"] == "yard" and yard["healthy"] and yard["reference_url"] is None
    (alarm,) = lobby["alarms"]
    assert (alarm["condition"], alarm["kind"], alarm["uid"]) == ("covered", "camera_covered", uid)
    for url in (alarm["snapshot_url"], alarm["before_url"], lobby["reference_url"]):
        r = viewer.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", url
    listed = viewer.get("/api/v1/events", params={"kind": "camera_covered"}).json()["events"]
    assert [e["uid"] for e in listed] == [uid] and listed[0]["end"] is None

    assert viewer.post("/api/v1/health/cameras/lobby/accept").status_code == 403
    r = admin.post("/api/v1/health/cameras/lobby/accept")
    assert r.status_code == 200 and r.json()["reference_url"] is None
    assert viewer.get("/api/v1/health/cameras/lobby/reference.jpg").status_code == 404
    assert viewer.get("/api/v1/health/cameras/nowhere").status_code == 404
    assert viewer.get("/api/v1/health/events/no-such-uid/before.jpg").status_code == 404


def test_cli_lists_alarms_and_accepts_a_view(
    ctx: ApiContext, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = _covered(ctx)
    config = str(ctx.config_path)
    assert run(["--config", config, "cameras", "health", "--json"]) == 0
    lobby, yard = json.loads(capsys.readouterr().out)
    assert lobby["alarms"]["covered"]["uid"] == uid and not lobby["healthy"] and yard["healthy"]
    assert run(["--config", config, "cameras", "health"]) == 0
    assert "covered" in capsys.readouterr().out
    assert run(["--config", config, "cameras", "health", "--accept", "lobby"]) == 0
    assert not HealthAlarms(ctx.db, ctx.data_dir).has_reference("lobby")
    assert run(["--config", config, "cameras", "health", "--accept", "nowhere"]) != 0
