"""API enrolment and removal commit together with their audit record, or not at all."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text

from tests.api.helpers import Client
from vigil.api import ApiContext
from vigil.privacy.audit import AuditLog
from vigil.store.models import Person, Template


def _enrol(c: Client, faces_dir: Path):  # type: ignore[no-untyped-def]
    photo = ("photos", ("obama.jpg", (faces_dir / "obama.jpg").read_bytes(), "image/jpeg"))
    data = {"name": "Barack Obama", "legal_basis": "consent"}
    return c.post("/api/v1/people", data=data, files=[photo])


def _counts(ctx: ApiContext, action: str) -> tuple[int, int, int]:
    with ctx.db.session() as s:
        people = s.scalar(select(func.count(Person.id))) or 0
        templates = s.scalar(select(func.count(Template.id))) or 0
    return people, templates, len(AuditLog.from_config(ctx.config).query(ctx.db, action=action))


def _trigger(ctx: ApiContext, name: str, sql: str) -> None:
    with ctx.db.session() as s:
        s.execute(text(f"CREATE TRIGGER {name} {sql}"))


def test_failed_audit_write_leaves_no_template(
    clients: dict[str, Client], ctx: ApiContext, faces_dir: Path
) -> None:
    op = clients["operator"]
    _trigger(
        ctx,
        "audit_down",
        "BEFORE INSERT ON audit_records WHEN NEW.action IN ('enroll', 'remove_person') "
        "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END",
    )
    r = _enrol(op, faces_dir)
    assert 400 <= r.status_code < 600 and r.status_code != 500, r.text
    assert "audit log unavailable" in r.json()["detail"]
    assert _counts(ctx, "enroll") == (0, 0, 0)  # neither the person nor a template
    # With the audit log back, the same upload enrols and is audited once.
    with ctx.db.session() as s:
        s.execute(text("DROP TRIGGER audit_down"))
    r = _enrol(op, faces_dir)
    assert r.status_code == 201, r.text
    pid = r.json()["person"]["id"]
    assert _counts(ctx, "enroll") == (1, 1, 1)
    rec = AuditLog.from_config(ctx.config).query(ctx.db, action="enroll")[0]
    assert rec.actor == "operator" and rec.person == str(pid)
    assert rec.details["legal_basis"] == "consent" and rec.details["templates"] == 1
    # Removal: an audit failure keeps the person and every template.
    _trigger(
        ctx,
        "audit_down",
        "BEFORE INSERT ON audit_records WHEN NEW.action = 'remove_person' "
        "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END",
    )
    r = op.delete(f"/api/v1/people/{pid}", params={"reason": "left the company"})
    assert r.status_code >= 400
    assert _counts(ctx, "remove_person") == (1, 1, 0)


def test_failed_template_write_leaves_no_audit_record(
    clients: dict[str, Client], ctx: ApiContext, faces_dir: Path
) -> None:
    _trigger(
        ctx,
        "templates_down",
        "BEFORE INSERT ON face_templates BEGIN SELECT RAISE(ABORT, 'disk trouble'); END",
    )
    r = _enrol(clients["operator"], faces_dir)
    assert r.status_code >= 400
    assert _counts(ctx, "enroll") == (0, 0, 0)
