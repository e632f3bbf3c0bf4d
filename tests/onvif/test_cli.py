"""`vigil cameras discover` and `vigil cameras add-onvif` against the simulated camera: the
camera lands in vigil.yaml with its main and sub stream, the password never on argv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.onvif.conftest import PASSWORD, USER
from vigil.bench.onvif_camera import SimulatedCamera
from vigil.cli import run
from vigil.config import load_config
from vigil.config_edit import backup_path
from vigil.privacy.audit import AuditLog
from vigil.store.db import Database


def vigil(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = run([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_discover_lists_the_camera(
    site: Path, camera: SimulatedCamera, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = vigil(capsys, "--config", site, "cameras", "discover", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert row["xaddrs"] == [camera.url] and row["name"] == "Vigil Sim"


def test_add_onvif_writes_main_and_sub_stream(
    site: Path, camera: SimulatedCamera, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "cam.pass"
    secret.write_text(PASSWORD + "\n")
    original = site.read_text()
    code, out, err = vigil(
        capsys, "--config", site, "cameras", "add-onvif", camera.url,
        "--name", "gate", "--user", USER, "--password-file", secret, "--events",
    )  # fmt: skip
    assert code == 0, err
    assert "added camera gate" in out and PASSWORD not in out
    text = site.read_text()
    assert "# the yard, on a pan-tilt mount" in text  # the operator's comments kept
    assert backup_path(site).read_text() == original
    assert site.stat().st_mode & 0o777 == 0o600  # it holds passwords: its mode is kept
    gate = load_config(site).cameras[1]
    assert gate.name == "gate"
    assert gate.url == "rtsp://operator1:cam%20pass%3A%207%26x@127.0.0.1:8554/cam/main"
    assert gate.sub_url == "rtsp://operator1:cam%20pass%3A%207%26x@127.0.0.1:8554/cam/sub"
    assert gate.onvif is not None and gate.onvif.events and gate.onvif.url == camera.url
    assert gate.onvif.secret() == PASSWORD
    # audited, without the password
    cfg = load_config(site)
    db = Database(cfg.storage.resolved_database_url())
    [rec] = AuditLog.from_config(cfg).query(db, action="change_config")
    db.close()
    assert rec.camera == "gate" and rec.details["added"] == "onvif"
    assert PASSWORD not in json.dumps(rec.details)


def test_a_wrong_password_says_so_and_writes_nothing(
    site: Path, camera: SimulatedCamera, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "wrong.pass"
    secret.write_text("guess\n")
    before = site.read_bytes()
    code, _, err = vigil(
        capsys, "--config", site, "cameras", "add-onvif", camera.url,
        "--name", "gate", "--user", USER, "--password-file", secret,
    )  # fmt: skip
    assert code != 0
    assert "refused the user name or password" in err
    assert site.read_bytes() == before and not backup_path(site).exists()
    assert yaml.safe_load(site.read_text())["cameras"][0]["name"] == "yard"
