"""End to end: the simulated ONVIF camera's stream URIs point at our RTSP test camera (with a
login); the URL that adding writes into vigil.yaml plays, credentials included."""

from __future__ import annotations

from tests.camera.conftest import _start_server, rtsp_available
from tests.onvif.conftest import PASSWORD, USER
from vigil.bench.onvif_camera import SimulatedCamera
from vigil.camera.source import probe
from vigil.onvif.adding import camera_entry, inspect
from vigil.onvif.device import OnvifDevice

__all__ = ["rtsp_available"]  # skips where GStreamer's RTSP server is missing


def test_the_added_url_plays(rtsp_available: None) -> None:
    rtsp = _start_server(["--port", "0", "--user", USER, "--password", PASSWORD])
    try:
        with SimulatedCamera(USER, PASSWORD, main_uri=rtsp.url, sub_uri=rtsp.url) as sim:
            found = inspect(OnvifDevice.connect(sim.url, USER, PASSWORD))
            entry = camera_entry(found, "gate", USER, PASSWORD)
        info = probe(entry["url"], seconds=0.5, io_timeout_s=15)
        assert info.as_dict()["codec"] == "h264"
    finally:
        rtsp.kill()
