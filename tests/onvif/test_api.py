"""ONVIF from the API: discover and add a camera (admins, audited), PTZ moves and presets that
reach the simulated camera (admins and operators, audited), refusals said clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.api.helpers import PASSWORD as LOGIN
from tests.api.helpers import Client, client_for
from tests.onvif.conftest import PASSWORD, USER, site_yaml
from vigil.api import ApiContext, accounts
from vigil.bench.onvif_camera import SimulatedCamera
from vigil.config import VigilConfig, load_config
from vigil.privacy.audit import AuditLog
from vigil.store.db import Database
from vigil.store.models import Role


@pytest.fixture(scope="module")
def site(sim: SimulatedCamera, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One site for the module (logging users in is the slow part)."""
    root = tmp_path_factory.mktemp("onvif-api")
    path = root / "vigil.yaml"
    path.write_text(site_yaml(root / "var", sim), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ctx(site: Path) -> Iterator[ApiContext]:
    cfg = VigilConfig.model_validate(yaml.safe_load(site.read_text()))
    db = Database(cfg.storage.resolved_database_url())
    c = ApiContext(cfg, db, config_path=site)
    for role in ("admin", "operator", "viewer"):
        accounts.create_user(db, role, LOGIN, Role(role), created_by="test")
    yield c
    db.close()


@pytest.fixture(scope="module")
def clients(ctx: ApiContext) -> dict[str, Client]:
    return {role: client_for(ctx, role) for role in ("admin", "operator", "viewer")}


def audited(ctx: ApiContext, action: str) -> list:  # type: ignore[type-arg]
    return AuditLog.from_config(ctx.config).query(ctx.db, action=action, limit=100)


def test_ptz_moves_and_presets_reach_the_camera(
    clients: dict[str, Client], ctx: ApiContext, camera: SimulatedCamera
) -> None:
    op = clients["operator"]
    r = clients["viewer"].get("/api/v1/cameras/yard/ptz")
    assert r.status_code == 200, r.text
    assert r.json()["presets"] == [
        {"token": "1", "name": "Gate"},
        {"token": "2", "name": "Car park"},
    ]

    r = op.post("/api/v1/cameras/yard/ptz/move", json={"pan": -0.5, "tilt": 0.25, "seconds": 2})
    assert r.status_code == 200, r.text
    assert op.post("/api/v1/cameras/yard/ptz/stop").status_code == 200
    assert op.post("/api/v1/cameras/yard/ptz/presets/2").status_code == 200
    assert camera.ptz_calls == [
        (
            "ContinuousMove",
            {"pan": "-0.500", "tilt": "0.250", "zoom": "0.000", "timeout": "PT2.000S"},
        ),
        ("Stop", {}),
        ("GotoPreset", {"preset": "2"}),
    ]
    moves = audited(ctx, "ptz_move")
    assert [(m.actor, m.camera) for m in moves] == [("operator", "yard")] * 2
    assert {m.details.get("preset_name") for m in moves} == {None, "Car park"}

    # refusals: a viewer may not move, a bad speed or preset is refused, nothing reaches it
    camera.ptz_calls.clear()
    assert clients["viewer"].post("/api/v1/cameras/yard/ptz/move", json={}).status_code == 403
    assert op.post("/api/v1/cameras/yard/ptz/move", json={"pan": 2}).status_code == 422
    r = op.post("/api/v1/cameras/yard/ptz/presets/9")
    assert r.status_code == 404 and "no preset" in r.json()["detail"]
    assert op.get("/api/v1/cameras/nope/ptz").status_code == 404
    assert [name for name, _ in camera.ptz_calls] == []


def test_discover_inspect_and_add_from_the_api(
    clients: dict[str, Client], ctx: ApiContext, camera: SimulatedCamera, site: Path
) -> None:
    admin = clients["admin"]
    assert clients["operator"].get("/api/v1/onvif/discover").status_code == 403
    r = admin.get("/api/v1/onvif/discover")
    assert r.status_code == 200, r.text
    [found] = r.json()
    assert found["xaddrs"] == [camera.url]

    login = {"url": found["xaddrs"][0], "username": USER, "password": "wrong"}
    r = admin.post("/api/v1/onvif/inspect", json=login)
    assert r.status_code == 422 and "refused the user name or password" in r.json()["detail"]
    login["password"] = PASSWORD
    r = admin.post("/api/v1/onvif/inspect", json=login)
    assert r.status_code == 200, r.text
    assert (r.json()["main"], r.json()["sub"]) == ("main", "sub")

    before = site.read_bytes()
    r = admin.post("/api/v1/onvif/cameras", json={**login, "name": "yard"})
    assert r.status_code == 409 and site.read_bytes() == before
    r = admin.post("/api/v1/onvif/cameras", json={**login, "name": "gate", "sub": "sub"})
    assert r.status_code == 201, r.text
    assert r.json()["url"] == f"rtsp://{USER}:***@127.0.0.1:8554/cam/main"  # no password out
    gate = load_config(site).cameras[1]
    assert gate.name == "gate" and gate.sub_url and gate.sub_url.endswith("/cam/sub")
    [rec] = audited(ctx, "change_config")
    assert rec.actor == "admin" and rec.camera == "gate"


def test_an_address_that_does_not_answer_is_said_so(clients: dict[str, Client]) -> None:
    for url, said in [
        ("http://127.0.0.1:9/onvif/device_service", "cannot reach"),
        ("http://\u0080x/", "cannot reach"),
        ("ftp://h", "not an ONVIF device address"),
    ]:
        r = clients["admin"].post("/api/v1/onvif/inspect", json={"url": url})
        assert r.status_code == 400 and said in r.json()["detail"], (url, r.text)
