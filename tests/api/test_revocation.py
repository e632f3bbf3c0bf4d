"""Ending access: password changes and resets end sessions, a reset revokes API tokens for
good, and an admin can revoke anyone's token (audited)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.helpers import PASSWORD, Client, client_for
from vigil.api import ApiContext, accounts
from vigil.config import VigilConfig
from vigil.privacy.audit import AuditLog
from vigil.store.db import Database
from vigil.store.models.users import Role

NEW = "a brand new password"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ApiContext]:
    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(tmp_path / "var")}})
    ctx = ApiContext(cfg, Database(cfg.storage.resolved_database_url()))
    accounts.create_user(ctx.db, "admin", PASSWORD, Role.admin, created_by="test")
    accounts.create_user(ctx.db, "ops", PASSWORD, Role.operator, created_by="test")
    yield ctx
    ctx.db.close()


def token_client(ctx: ApiContext, owner: Client, name: str = "script") -> tuple[Client, int]:
    r = owner.post("/api/v1/auth/tokens", json={"name": name})
    assert r.status_code == 201, r.text
    machine = client_for(ctx)
    machine.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return machine, r.json()["info"]["id"]


def user_id(ctx: ApiContext, name: str) -> int:
    return next(a.id for a in accounts.list_users(ctx.db) if a.username == name)


def test_reset_revokes_tokens_for_good(site: ApiContext) -> None:
    admin, ops = client_for(site, "admin"), client_for(site, "ops")
    machine, _ = token_client(site, ops)
    assert machine.get("/api/v1/auth/me").status_code == 200
    r = admin.patch(f"/api/v1/users/{user_id(site, 'ops')}", json={"reset_password": True})
    otp = r.json()["one_time_password"]
    assert machine.get("/api/v1/auth/me").status_code == 401  # revoked, not just paused
    assert ops.get("/api/v1/auth/me").status_code == 401  # the session ended too
    again = client_for(site).login("ops", otp)
    r = again.post("/api/v1/auth/password", json={"current_password": otp, "new_password": NEW})
    assert r.status_code == 204
    assert machine.get("/api/v1/auth/me").status_code == 401  # still revoked after the change
    assert again.get("/api/v1/auth/tokens").json() == []
    reset = AuditLog.from_config(site.config).query(site.db, actor="admin", limit=1)[0]
    assert reset.details["api_tokens_revoked"] == "1"


def test_admin_revokes_another_users_token_audited(site: ApiContext) -> None:
    admin, ops = client_for(site, "admin"), client_for(site, "ops")
    machine, tid = token_client(site, ops, "door opener")
    listed = admin.get(f"/api/v1/users/{user_id(site, 'ops')}/tokens").json()
    assert [t["id"] for t in listed] == [tid]
    assert admin.delete(f"/api/v1/auth/tokens/{tid}").status_code == 204
    assert machine.get("/api/v1/auth/me").status_code == 401
    assert admin.delete(f"/api/v1/auth/tokens/{tid}").status_code == 404  # gone for good
    rec = AuditLog.from_config(site.config).query(site.db, actor="admin", limit=1)[0]
    assert rec.action == "change_user" and rec.target_kind == "api_token"
    assert rec.target_id == str(tid)
    assert rec.details["owner"] == "ops" and rec.details["name"] == "door opener"
    # A non-admin still cannot touch someone else's token, nor list them.
    _, admin_tid = token_client(site, admin)
    assert ops.delete(f"/api/v1/auth/tokens/{admin_tid}").status_code == 404
    assert ops.get(f"/api/v1/users/{user_id(site, 'admin')}/tokens").status_code == 403


def test_changing_my_password_ends_my_other_sessions(site: ApiContext) -> None:
    here, laptop, phone = (client_for(site, "ops") for _ in range(3))
    machine, _ = token_client(site, here)
    r = here.post("/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW})
    assert r.status_code == 204
    assert here.get("/api/v1/auth/me").status_code == 200  # this session stays
    assert laptop.get("/api/v1/auth/me").status_code == 401
    assert phone.get("/api/v1/auth/me").status_code == 401
    assert machine.get("/api/v1/auth/me").status_code == 200  # my tokens are mine to revoke
    # A change made with a token ends every session.
    fresh = client_for(site).login("ops", NEW)
    r = machine.post(
        "/api/v1/auth/password", json={"current_password": NEW, "new_password": NEW + "!"}
    )
    assert r.status_code == 204
    assert fresh.get("/api/v1/auth/me").status_code == 401
    assert here.get("/api/v1/auth/me").status_code == 401
