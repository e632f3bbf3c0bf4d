"""Saving a camera's zones and masks from the API into vigil.yaml: comments and other cameras
kept, validation before writing, stale-version refusal, admin only, audited, applied live."""

from __future__ import annotations

import yaml

from tests.api.helpers import Client, client_for
from vigil.api import ApiContext
from vigil.api.auditing import AuditEntry
from vigil.config import CameraConfig, load_config
from vigil.config_edit import backup_path
from vigil.privacy.audit import AuditLog

MASK = [[0.0, 0.0], [0.25, 0.0], [0.25, 0.2], [0.0, 0.2]]
TREE = [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4]]
PRESS = {"name": "press 1", "kind": "machine", "polygon": [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9]]}


def _layout(c: Client, **body: object) -> dict[str, object]:
    etag = c.get("/api/v1/cameras/lobby/zones").json()["etag"]
    return {"etag": etag, "zones": [], "privacy_masks": [], "motion_masks": [], **body}


def _records(ctx: ApiContext, action: str) -> list:  # type: ignore[type-arg]
    return AuditLog.from_config(ctx.config).query(ctx.db, action=action, limit=100)


def test_save_keeps_comments_applies_live_and_is_audited(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    assert ctx.config_path is not None
    path = ctx.config_path
    path.chmod(0o600)  # vigil.yaml may hold secrets (MQTT password, webhook secrets)
    original = path.read_text()
    told: list[CameraConfig] = []
    ctx.on_camera_change = told.append
    admin = clients["admin"]
    body = _layout(admin, zones=[PRESS], privacy_masks=[MASK], motion_masks=[TREE])
    r = admin.put("/api/v1/cameras/lobby/zones", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["privacy_masks"] == [MASK] and out["motion_masks"] == [TREE]
    assert out["etag"] != body["etag"]

    text = path.read_text()
    for line in original.splitlines():
        if "#" in line:  # every operator's comment is still there, on its own key
            assert line in text, f"lost: {line!r}"
    assert backup_path(path).read_text() == original
    assert (
        path.stat().st_mode & 0o777 == 0o600 and backup_path(path).stat().st_mode & 0o777 == 0o600
    )
    on_disk = load_config(path)
    lobby, yard = on_disk.cameras
    assert yard.name == "yard" and yard.enabled is False  # the other camera is untouched
    assert [list(map(list, m)) for m in lobby.privacy_masks] == [MASK]
    assert [list(map(list, m)) for m in lobby.motion.masks] == [TREE]
    assert lobby.zones[0].name == "press 1" and lobby.zones[0].kind == "machine"
    assert lobby.segment_seconds == 2 and lobby.loop is True
    # Only the layout keys changed in the file.
    before, after = yaml.safe_load(original), yaml.safe_load(text)
    assert after["cameras"][1] == before["cameras"][1] and after["site"] == before["site"]
    assert {
        k: v
        for k, v in after["cameras"][0].items()
        if k not in ("zones", "privacy_masks", "motion")
    } == before["cameras"][0]

    # Applied without restart: the running config, every reader of it, and the analysis hook.
    running = ctx.config.cameras[0]
    assert [list(map(list, m)) for m in running.privacy_masks] == [MASK]
    assert [z.name for z in running.zones] == ["press 1"]
    assert told and told[-1].name == "lobby" and len(told[-1].privacy_masks) == 1
    got = clients["viewer"].get("/api/v1/cameras/lobby/zones").json()
    assert got["zones"][0]["name"] == "press 1" and got["etag"] == out["etag"]

    [masks] = _records(ctx, "change_masks")
    assert masks.actor == "admin" and masks.camera == "lobby"
    assert masks.details["privacy_masks"] == {"before": 0, "after": 1}
    assert masks.details["motion_masks"] == {"before": 0, "after": 1}
    assert "0.25" not in str(masks.details)  # counts, never coordinates
    [zones] = _records(ctx, "change_zones")
    assert zones.details["zones"] == {"before": 0, "after": 1}
    assert zones.details["names"] == ["press 1"]

    # Clearing: saving an empty layout removes them again, also from the file.
    r = admin.put("/api/v1/cameras/lobby/zones", json=_layout(admin))
    assert r.status_code == 200, r.text
    lobby = load_config(path).cameras[0]
    assert lobby.privacy_masks == [] and lobby.zones == [] and lobby.motion.masks == []
    assert _records(ctx, "change_masks")[0].details["privacy_masks"] == {"before": 1, "after": 0}


def test_invalid_layout_is_refused_and_file_untouched(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    assert ctx.config_path is not None
    admin = clients["admin"]
    original = ctx.config_path.read_bytes()
    bad = [
        ({"privacy_masks": [[[0.1, 0.1], [0.2, 0.2]]]}, "at least 3"),  # two points
        ({"privacy_masks": [[[0.1, 0.1], [1.5, 0.2], [0.2, 0.3]]]}, "less than or equal to 1"),
        ({"motion_masks": [[[0.1, -0.1], [0.5, 0.2], [0.2, 0.3]]]}, "greater than or equal to 0"),
        ({"zones": [{**PRESS, "kind": "conveyor"}]}, "kind"),
        ({"zones": [{**PRESS, "name": "press/1"}]}, "name"),
        ({"zones": [PRESS, PRESS]}, "unique"),
        ({"zones": [{**PRESS, "kind": "restricted", "allowed_hours": "25:00-26:00"}]}, "HH:MM"),
        ({"zones": [{**PRESS, "colour": "red"}]}, "colour"),
    ]
    for change, words in bad:
        r = admin.put("/api/v1/cameras/lobby/zones", json=_layout(admin, **change))
        assert r.status_code == 422, (change, r.text)
        assert words in r.json()["detail"], (change, r.json()["detail"])
    assert ctx.config_path.read_bytes() == original
    # Valid polygons, but the whole file would not validate: burn-in needs a privacy mask.
    text = original.decode().replace(
        "segment_seconds: 2",
        "segment_seconds: 2\n    privacy_masks_burn_in: true\n"
        "    privacy_masks: [[[0, 0], [0.1, 0], [0.1, 0.1]]]",
    )
    ctx.config_path.write_text(text)
    r = admin.put("/api/v1/cameras/lobby/zones", json=_layout(admin))
    assert r.status_code == 422, r.text
    assert "privacy_masks_burn_in" in r.json()["detail"]
    assert ctx.config_path.read_text() == text
    assert not backup_path(ctx.config_path).exists()
    assert not _records(ctx, "change_masks")
    assert not list(ctx.config_path.parent.glob(".vigil.yaml.*"))  # no temp file left


def test_stale_version_is_refused(clients: dict[str, Client], ctx: ApiContext) -> None:
    assert ctx.config_path is not None
    admin = clients["admin"]
    body = _layout(admin, privacy_masks=[MASK])
    edited = ctx.config_path.read_text().replace("test-site", "renamed-site")
    ctx.config_path.write_text(edited)  # the operator edits the file meanwhile
    r = admin.put("/api/v1/cameras/lobby/zones", json=body)
    assert r.status_code == 409 and "changed on disk" in r.json()["detail"]
    assert ctx.config_path.read_text() == edited
    assert ctx.config.cameras[0].privacy_masks == []
    r = admin.put("/api/v1/cameras/lobby/zones", json={**body, "etag": "0" * 32})
    assert r.status_code == 409
    # With the fresh version, the save goes through and keeps the operator's edit.
    r = admin.put("/api/v1/cameras/lobby/zones", json=_layout(admin, privacy_masks=[MASK]))
    assert r.status_code == 200, r.text
    assert "renamed-site" in ctx.config_path.read_text()


def test_only_admins_save(clients: dict[str, Client], anon: Client, ctx: ApiContext) -> None:
    assert ctx.config_path is not None
    original = ctx.config_path.read_bytes()
    body = _layout(clients["admin"], privacy_masks=[MASK])
    for role in ("operator", "viewer", "auditor"):
        r = clients[role].put("/api/v1/cameras/lobby/zones", json=body)
        assert r.status_code == 403, (role, r.text)
    assert anon.put("/api/v1/cameras/lobby/zones", json=body).status_code == 401
    no_csrf = client_for(ctx, "admin")
    del no_csrf.headers["X-CSRF-Token"]
    r = no_csrf.put("/api/v1/cameras/lobby/zones", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert clients["admin"].put("/api/v1/cameras/nope/zones", json=body).status_code == 404
    assert ctx.config_path.read_bytes() == original
    assert not _records(ctx, "change_masks")


def test_without_a_config_file_saving_is_refused(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    ctx.config_path = None
    admin = clients["admin"]
    got = admin.get("/api/v1/cameras/lobby/zones").json()
    assert got["etag"] is None
    r = admin.put("/api/v1/cameras/lobby/zones", json={**got, "etag": "x"})
    assert r.status_code == 409 and "without a vigil.yaml" in r.json()["detail"]


def test_get_body_can_be_put_back(clients: dict[str, Client], ctx: ApiContext) -> None:
    """GET .../zones returns exactly what PUT takes (camera and etag included)."""
    admin = clients["admin"]
    got = admin.get("/api/v1/cameras/lobby/zones").json()
    r = admin.put("/api/v1/cameras/lobby/zones", json=got)
    assert r.status_code == 200, r.text
    [rec] = _records(ctx, "change_masks")
    assert rec.details["changed"] is False
    assert not _records(ctx, "change_zones")
    assert (
        admin.put("/api/v1/cameras/lobby/zones", json={**r.json(), "camera": "yard"}).status_code
        == 422
    )


def test_a_save_that_cannot_be_audited_is_undone(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    assert ctx.config_path is not None
    original = ctx.config_path.read_bytes()

    def refuse(entry: AuditEntry) -> None:
        raise OSError("audit database is read-only")

    body = _layout(clients["admin"], privacy_masks=[MASK])
    ctx.audit = refuse
    r = clients["admin"].put("/api/v1/cameras/lobby/zones", json=body)
    assert r.status_code == 503 and "undone" in r.json()["detail"]
    assert ctx.config_path.read_bytes() == original
    assert ctx.config.cameras[0].privacy_masks == []
