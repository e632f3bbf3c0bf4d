"""Zones measured offline on the generated factory scene (`vigil.demo.scenes`), with the
shipped zone defaults: `vigil analyze FILE --camera NAME --json`, as an operator would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vigil.cli import app
from vigil.demo.scenes import FactoryScene, factory_scene


@pytest.fixture(scope="module")
def scene(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> FactoryScene:
    return factory_scene(
        tmp_path_factory.mktemp("factory") / "factory.mp4", testdata / "video/vtest.avi"
    )


@pytest.fixture(scope="module")
def analysed(scene: FactoryScene, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("site")
    config = {
        "cameras": [
            {"name": "hall", "url": str(scene.path), "record": False, "zones": scene.zones()}
        ]
    }
    (root / "vigil.yaml").write_text(yaml.safe_dump(config))
    args = ["--config", str(root / "vigil.yaml"), "--data-dir", str(root / "data"), "analyze"]
    args += [str(scene.path), "--camera", "hall", "--reason", "zone test", "--fps", "2", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_machine_spans_right_with_defaults(scene: FactoryScene, analysed: dict) -> None:
    zones = {z["name"]: z for z in analysed["zones"]}
    assert set(zones) == {"press", "door"}
    press = zones["press"]
    truth = sorted(
        [("running", a, b) for a, b in scene.running] + [("idle", a, b) for a, b in scene.idle],
        key=lambda s: s[1],
    )
    got = [(s["state"], s["start"], s["end"]) for s in press["spans"]]
    assert [s for s, _, _ in got] == [s for s, _, _ in truth], got
    for (_, a, b), (_, ta, tb) in zip(got, truth, strict=True):
        assert abs(a - ta) <= 3 and abs(b - tb) <= 3, (got, truth)
    assert abs(press["running_s"] - 110) <= 6 and abs(press["idle_s"] - 70) <= 6


def test_doorway_counts_every_crossing_by_direction(scene: FactoryScene, analysed: dict) -> None:
    door = next(z for z in analysed["zones"] if z["name"] == "door")
    ins = sum(d == "in" for _, d in scene.crossings)
    assert (door["entries"], door["exits"]) == (ins, len(scene.crossings) - ins) == (2, 1)
    # One worker at a time, about 2 s in the doorway each crossing (120 px at 60 px/s).
    assert door["peak_people"] == 1 and 3 <= door["person_s"] <= 9, door
    crossings = [
        (e["start"], e["end"], e["state"])
        for e in analysed["events"]
        if e["kind"] == "zone_change" and e["zone"] == "door"
    ]
    # Each crossing is reported while the worker was in the doorway, going the right way.
    for (start, end, state), (t, direction) in zip(sorted(crossings), scene.crossings, strict=True):
        assert state == direction and start - 1 <= t <= end + 1, crossings
