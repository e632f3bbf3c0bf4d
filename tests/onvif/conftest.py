from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.bench.onvif_camera import SimulatedCamera

USER, PASSWORD = "operator1", "cam pass: 7&x"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedCamera]:
    """One simulated ONVIF camera (HTTP + WS-Discovery on loopback) per test module."""
    with SimulatedCamera(
        USER,
        PASSWORD,
        main_uri="rtsp://127.0.0.1:8554/cam/main",
        sub_uri="rtsp://127.0.0.1:8554/cam/sub",
    ) as cam:
        yield cam


@pytest.fixture
def camera(sim: SimulatedCamera) -> SimulatedCamera:
    sim.ptz_calls.clear()
    return sim


def site_yaml(data_dir: Path, sim: SimulatedCamera, *, events: bool = False) -> str:
    """A site whose camera `yard` is the simulated one; with an operator's comments."""
    return f"""# the site (operator's comment)
site:
  name: onvif-test
storage:
  data_dir: {json.dumps(str(data_dir))}
onvif:
  discovery_address: 127.0.0.1  # the simulator's responder
  discovery_port: {sim.discovery_port}
  discovery_timeout_s: 0.5
cameras:
  # the yard, on a pan-tilt mount
  - name: yard
    url: rtsp://127.0.0.1:8554/cam/main
    enabled: false
    onvif:
      url: {sim.url}
      username: {json.dumps(USER)}
      password: {json.dumps(PASSWORD)}
      events: {str(events).lower()}
      pull_wait_s: 0.5
      retry_s: 0.2
"""


@pytest.fixture
def site(tmp_path: Path, camera: SimulatedCamera) -> Path:
    """vigil.yaml of a site with the simulated camera as `yard`."""
    path = tmp_path / "vigil.yaml"
    path.write_text(site_yaml(tmp_path / "var", camera), encoding="utf-8")
    path.chmod(0o600)
    return path
