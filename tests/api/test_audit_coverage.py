"""Issue 7's list of what must be audited, driven through the API (and the CLI where it
exists): each action must leave an audit record of the right kind, by the right user."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.api.helpers import Client, now
from tests.api.test_export_bundle import run_export
from vigil.api import ApiContext
from vigil.cli import run
from vigil.events.store import create_event
from vigil.privacy.audit import AuditLog
from vigil.store.models import AuditRecord


class Trail:
    """The audit records written since it was made (or since `mark`)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.log = AuditLog.from_config(ctx.config)
        self.mark()

    def mark(self) -> None:
        head = self.log.query(self.ctx.db, limit=1)
        self.since = head[0].seq if head else 0

    def new(self, action: str, actor: str | None = None) -> list[AuditRecord]:
        rows = self.log.query(self.ctx.db, action=action, actor=actor, limit=1000)
        return [r for r in rows if r.seq > self.since]


@pytest.fixture
def trail(ctx: ApiContext) -> Trail:
    return Trail(ctx)


@pytest.fixture
def cli(ctx: ApiContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`vigil --config <same site as ctx> ...` in-process: (exit code, stdout, stderr)."""
    cfg = tmp_path / "vigil.yaml"
    video = ctx.config.cameras[0].url

    def write(retention_days: int = 30) -> None:
        cfg.write_text(
            f"site:\n  name: test-site\nstorage:\n  data_dir: {ctx.data_dir}\n"
            f"cameras:\n  - name: lobby\n    url: {video}\n    retention_days: {retention_days}\n"
        )

    def invoke(*args: object) -> tuple[int, str, str]:
        code = run(["--config", str(cfg), *map(str, args)])
        out = capsys.readouterr()
        return code, out.out, out.err

    write()
    invoke.write_config = write  # type: ignore[attr-defined]
    return invoke


def _photo(path: Path) -> tuple[str, tuple[str, bytes, str]]:
    return ("photos", (path.name, path.read_bytes(), "image/jpeg"))


def _enrol(c: Client, faces_dir: Path) -> int:
    r = c.post(
        "/api/v1/people",
        data={"name": "Barack Obama", "legal_basis": "consent"},
        files=[_photo(faces_dir / "obama.jpg")],
    )
    assert r.status_code == 201, r.text
    return int(r.json()["person"]["id"])


def test_viewing_live_and_recorded_footage(
    clients: dict[str, Client], ctx: ApiContext, trail: Trail
) -> None:
    v = clients["viewer"]
    ctx.live.publish_image("lobby", np.zeros((48, 64, 3), np.uint8))
    assert v.get("/api/v1/cameras/lobby/snapshot.jpg").status_code == 200
    [live] = trail.new("view_live", "viewer")
    assert live.camera == "lobby" and live.role == "viewer" and live.source.startswith("api")
    seg = v.get("/api/v1/cameras/lobby/recordings").json()["segments"][0]
    # a viewer gets the pixelated rendition: streamed whole (200) while it is still being made
    assert v.get(seg["url"], headers={"Range": "bytes=0-99"}).status_code in (200, 206)
    [rec] = trail.new("view_recording", "viewer")
    assert rec.camera == "lobby"


def test_exporting_through_the_api_and_the_cli(
    clients: dict[str, Client], ctx: ApiContext, trail: Trail, cli, tmp_path: Path
) -> None:
    op = clients["operator"]
    span = op.get("/api/v1/cameras/lobby/recordings").json()["spans"][0]
    body = {"start": span["start"], "end": span["end"], "reason": "incident 42"}
    assert run_export(op, body)["state"] == "done"
    [api] = trail.new("export", "operator")
    assert api.reason == "incident 42" and api.camera == "lobby"
    trail.mark()
    out = tmp_path / "clip.mp4"
    code, _, err = cli(
        "export", "lobby", "--from", span["start"], "--to", span["end"], "-o", out,
        "--reason", "incident 43",
    )  # fmt: skip
    assert code == 0, err
    [by_cli] = trail.new("export")
    assert by_cli.reason == "incident 43" and by_cli.source == "cli"


def test_searching_by_face_and_by_person(
    clients: dict[str, Client], ctx: ApiContext, trail: Trail, faces_dir: Path, cli
) -> None:
    op = clients["operator"]
    pid = _enrol(op, faces_dir)
    create_event(ctx.db, camera="lobby", kind="known_person", start=now(), person_id=pid)
    trail.mark()
    probe = {"photo": ("p.jpg", (faces_dir / "obama2.jpg").read_bytes(), "image/jpeg")}
    r = op.post("/api/v1/search/photo", data={"reason": "lost badge, case 7"}, files=probe)
    assert r.status_code == 200, r.text
    assert r.json()["match"]["band"] == "40+ px"  # the size band that decided (0073)
    [face] = trail.new("search_face", "operator")
    assert face.reason == "lost badge, case 7" and face.person == str(pid)
    # By person: the events of one person need a reason too, and are recorded with it.
    r = op.get("/api/v1/events", params={"person_id": pid})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    assert not trail.new("search_person")
    r = op.get("/api/v1/events", params={"person_id": pid, "reason": "case 7: timeline"})
    assert r.status_code == 200 and len(r.json()["events"]) == 1
    [person] = trail.new("search_person", "operator")
    assert person.person == str(pid) and person.reason == "case 7: timeline"
    assert person.details["results"] == 1
    # The CLI's identification of a photo.
    code, _, err = cli("faces", "identify", faces_dir / "obama2.jpg", "--reason", "case 8")
    assert code == 0, err
    [ident] = trail.new("identify")
    assert ident.reason == "case 8" and ident.source == "cli"


def test_enrolling_and_deleting_a_person(
    clients: dict[str, Client], ctx: ApiContext, trail: Trail, faces_dir: Path, cli
) -> None:
    op = clients["operator"]
    pid = _enrol(op, faces_dir)
    [enrol] = trail.new("enroll", "operator")
    assert enrol.person == str(pid)
    r = op.delete(f"/api/v1/people/{pid}", params={"reason": "left the company"})
    assert r.status_code == 204
    [removal] = trail.new("remove_person", "operator")
    assert removal.person == str(pid) and removal.reason == "left the company"
    trail.mark()
    code, _, err = cli(
        "faces", "enroll", "Joe Biden", faces_dir / "biden.jpg", "--legal-basis", "consent"
    )
    assert code == 0, err
    [enrol_cli] = trail.new("enroll")
    assert enrol_cli.source == "cli"
    assert cli("faces", "remove", "Joe Biden", "--yes")[0] == 2  # no reason: refused
    assert not trail.new("remove_person")
    assert cli("faces", "remove", "Joe Biden", "-r", "erasure request 9", "--yes")[0] == 0
    [removal_cli] = trail.new("remove_person")
    assert removal_cli.person == enrol_cli.person and removal_cli.reason == "erasure request 9"


def test_changing_retention(ctx: ApiContext, trail: Trail, cli) -> None:
    """Retention lives in vigil.yaml; the next retention pass records what changed."""
    assert cli("privacy", "retention")[0] == 0  # the baseline
    assert not trail.new("change_retention")
    cli.write_config(retention_days=7)
    assert cli("privacy", "retention")[0] == 0
    [change] = trail.new("change_retention")
    footage = change.details["footage_retention_days"]
    assert footage == {"before": {"lobby": 30}, "after": {"lobby": 7}}
    trail.mark()
    assert cli("privacy", "retention")[0] == 0  # unchanged: nothing new
    assert not trail.new("change_retention")


def test_changing_masks(clients: dict[str, Client], ctx: ApiContext, trail: Trail) -> None:
    admin = clients["admin"]
    etag = admin.get("/api/v1/cameras/lobby/zones").json()["etag"]
    mask = [[0.0, 0.0], [0.3, 0.0], [0.3, 0.3]]
    body = {"etag": etag, "zones": [], "privacy_masks": [mask], "motion_masks": []}
    r = admin.put("/api/v1/cameras/lobby/zones", json=body)
    assert r.status_code == 200, r.text
    [change] = trail.new("change_masks", "admin")
    assert change.camera == "lobby"


def test_changing_watchlists(clients: dict[str, Client], ctx: ApiContext, trail: Trail) -> None:
    op = clients["operator"]
    r = op.post("/api/v1/watchlists", json={"name": "Banned", "action": "alert"})
    assert r.status_code == 201
    wid = r.json()["id"]
    assert op.patch(f"/api/v1/watchlists/{wid}", json={"action": "notify"}).status_code == 200
    assert op.delete(f"/api/v1/watchlists/{wid}").status_code == 204
    changes = [r.details["change"] for r in trail.new("change_watchlist", "operator")]
    assert sorted(changes) == ["create", "delete", "update"]


def test_changing_users_and_roles(
    clients: dict[str, Client], ctx: ApiContext, trail: Trail
) -> None:
    admin = clients["admin"]
    r = admin.post("/api/v1/users", json={"username": "carol", "role": "viewer"})
    assert r.status_code == 201, r.text
    uid = r.json()["user"]["id"]
    [created] = trail.new("change_user", "admin")
    assert created.target_id == "carol"
    assert admin.patch(f"/api/v1/users/{uid}", json={"role": "operator"}).status_code == 200
    [role] = trail.new("change_role", "admin")
    assert role.target_id == "carol" and role.details["role"] == "viewer -> operator"
    trail.mark()
    assert admin.patch(f"/api/v1/users/{uid}", json={"disabled": True}).status_code == 200
    assert admin.delete(f"/api/v1/users/{uid}").status_code == 204
    assert len(trail.new("change_user", "admin")) == 2
    assert not trail.new("change_role")


def test_changing_users_from_the_cli(ctx: ApiContext, trail: Trail, cli) -> None:
    assert cli("users", "reset-password", "viewer")[0] == 0
    [reset] = trail.new("change_user")
    assert reset.target_id == "viewer" and reset.source == "cli"
    trail.mark()
    assert cli("users", "unmask", "viewer")[0] == 0
    [grant] = trail.new("change_user")
    assert grant.target_id == "viewer" and grant.details["can_unmask"] == "True"
