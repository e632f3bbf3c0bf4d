"""The ONVIF client against the simulated camera: discovery, profiles and stream URIs, the
digest login, and the choice of main and sub stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.onvif.conftest import PASSWORD, USER
from vigil.bench.onvif_camera import SimulatedCamera
from vigil.config_edit import add_camera
from vigil.errors import ConflictError
from vigil.onvif.adding import camera_entry, inspect
from vigil.onvif.device import OnvifDevice, device_url
from vigil.onvif.discovery import discover, parse_matches
from vigil.onvif.soap import OnvifAuthError, OnvifError, SoapClient


def test_discover_finds_the_camera_and_ignores_other_answers(camera: SimulatedCamera) -> None:
    assert camera.discovery_port is not None
    [found] = discover("127.0.0.1", camera.discovery_port, timeout_s=0.4)
    assert found.endpoint == camera.endpoint
    assert found.xaddrs == (camera.url,)
    assert found.name == "Vigil Sim" and found.hardware == "sim" and found.host == "127.0.0.1"
    # an answer to somebody else's probe is not ours
    assert parse_matches(camera.probe_matches("urn:uuid:someone-else"), "urn:uuid:mine") == []
    assert parse_matches(b"not xml", "urn:uuid:mine") == []


def test_profiles_stream_uris_and_the_entry_to_add(camera: SimulatedCamera) -> None:
    found = inspect(OnvifDevice.connect(camera.url, USER, PASSWORD))
    assert (found.info.manufacturer, found.info.model) == ("Vigil", "Vigil Sim")
    assert [(s.profile.token, s.profile.width, s.uri) for s in found.streams] == [
        ("main", 1920, "rtsp://127.0.0.1:8554/cam/main"),
        ("sub", 640, "rtsp://127.0.0.1:8554/cam/sub"),
    ]
    assert found.ptz and found.events
    entry = camera_entry(found, "yard", USER, PASSWORD)
    # credentials quoted into the URLs: ':' '&' and ' ' would break them otherwise
    assert entry["url"] == "rtsp://operator1:cam%20pass%3A%207%26x@127.0.0.1:8554/cam/main"
    assert entry["sub_url"].endswith("@127.0.0.1:8554/cam/sub")
    assert entry["onvif"] == {"url": camera.url, "username": USER, "password": PASSWORD}
    # the sub stream can be chosen; the same profile twice means no sub stream
    assert "sub_url" not in camera_entry(found, "yard", USER, PASSWORD, main="sub", sub="sub")


def test_a_wrong_password_is_refused_clearly(camera: SimulatedCamera) -> None:
    refused = camera.refused
    with pytest.raises(OnvifAuthError, match="refused the user name or password"):
        OnvifDevice.connect(camera.url, USER, "not the password")
    assert camera.refused == refused + 1


def test_addresses_and_unreachable_devices() -> None:
    assert device_url("10.0.0.7") == "http://10.0.0.7/onvif/device_service"
    assert device_url("cam.local:8080") == "http://cam.local:8080/onvif/device_service"
    assert device_url("http://h/onvif/device_service") == "http://h/onvif/device_service"
    with pytest.raises(OnvifError, match="not an ONVIF device address"):
        device_url("rtsp://h/stream")
    with pytest.raises(OnvifError, match="cannot reach"):
        OnvifDevice.connect("http://127.0.0.1:9/onvif/device_service", timeout_s=0.5)


def test_a_name_taken_leaves_the_file_untouched(site: Path) -> None:
    before = site.read_bytes()
    entry = {"name": "yard", "url": "rtsp://127.0.0.1/x"}
    with pytest.raises(ConflictError, match=r"already in vigil\.yaml"):
        add_camera(site, entry)
    assert site.read_bytes() == before


def test_a_camera_clock_two_hours_off(camera: SimulatedCamera) -> None:
    """Devices refuse tokens dated far from their clock: ours are dated in the device's time,
    and the times of its messages are put back on ours."""
    camera.clock_skew = timedelta(hours=2)
    try:
        stale = SoapClient(USER, PASSWORD)  # our clock: refused, as a real device would
        with pytest.raises(OnvifAuthError):
            stale.call(camera.url, "<tds:GetDeviceInformation/>")
        device = OnvifDevice.connect(camera.url, USER, PASSWORD)
        assert abs(device.soap.clock_offset - timedelta(hours=2)) < timedelta(seconds=5)
        pp = device.subscribe(60)
        camera.motion(True)
        [note] = device.pull(pp, 1)
        assert abs(note.time - datetime.now(UTC)) < timedelta(seconds=5)
        device.unsubscribe(pp)
    finally:
        camera.clock_skew = timedelta(0)


def test_ipv4_device_addresses_come_first() -> None:
    sim = SimulatedCamera(discovery_port=None)  # never started: only its answer is used
    sim.stop()
    answer = sim.probe_matches("urn:uuid:x").replace(
        b"<d:XAddrs>", b"<d:XAddrs>http://[fe80::1]/onvif/device_service "
    )
    [found] = parse_matches(answer, "urn:uuid:x")
    assert found.xaddrs == (sim.url, "http://[fe80::1]/onvif/device_service")


def test_a_device_that_wants_http_digest() -> None:
    with SimulatedCamera(USER, PASSWORD, discovery_port=None, http_digest=True) as sim:
        device = OnvifDevice.connect(sim.url, USER, PASSWORD)
        assert device.soap.http_digest and device.information().model == "Vigil Sim"
        refused = sim.refused  # the first challenge of each call before digest was known
        with pytest.raises(OnvifAuthError, match="HTTP 401"):
            OnvifDevice.connect(sim.url, USER, "wrong")
        assert sim.refused > refused
