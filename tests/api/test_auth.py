"""Accounts, sessions, CSRF, API tokens, roles and the login rate limit."""

from __future__ import annotations

import pytest

from tests.api.helpers import PASSWORD, Client, client_for
from vigil.api import ApiContext, accounts
from vigil.privacy.audit import AuditLog


def test_logged_out_gets_401(anon: Client) -> None:
    for path in (
        "/api/v1/cameras",
        "/api/v1/people",
        "/api/v1/users",
        "/api/v1/audit",
        "/api/v1/settings",
        "/api/v1/events",
        "/api/v1/auth/me",
    ):
        r = anon.get(path)
        assert r.status_code == 401, path
        assert r.json()["detail"] == "not logged in"
    r = anon.get("/api/v1/cameras", headers={"Authorization": "Bearer vgl_nope"})
    assert r.status_code == 401 and "token" in r.json()["detail"]
    r = anon.get("/api/v1/cameras", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_wrong_password_and_logout(ctx: ApiContext) -> None:
    c = client_for(ctx)
    r = c.post("/api/v1/auth/login", json={"username": "viewer", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong user name or password"
    r = c.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong password"})
    assert r.status_code == 401
    c.login("viewer")
    assert c.get("/api/v1/cameras").status_code == 200
    assert c.post("/api/v1/auth/logout").status_code == 204
    assert c.get("/api/v1/cameras").status_code == 401


def test_csrf_required_for_cookie_requests(ctx: ApiContext) -> None:
    c = client_for(ctx, "admin")
    body = {"username": "newbie", "role": "viewer"}
    del c.headers["X-CSRF-Token"]
    r = c.post("/api/v1/users", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = c.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = c.post("/api/v1/users", json=body, headers={"X-CSRF-Token": c.csrf})
    assert r.status_code == 201
    assert c.get("/api/v1/users").status_code == 200  # reads need no token


def test_login_rate_limit_per_user_and_per_address(ctx: ApiContext) -> None:
    c = client_for(ctx)
    bad = {"username": "viewer", "password": "wrong password"}
    for _ in range(ctx.config.api.login_attempts):
        assert c.post("/api/v1/auth/login", json=bad).status_code == 401
    r = c.post("/api/v1/auth/login", json=bad)
    assert r.status_code == 429
    assert "too many failed logins for this user" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 0
    # Even the right password waits now.
    ok = {"username": "viewer", "password": PASSWORD}
    assert c.post("/api/v1/auth/login", json=ok).status_code == 429
    # Other users from the same address are limited once the address exceeds its budget.
    for i in range(ctx.config.api.login_attempts_per_client):
        c.post("/api/v1/auth/login", json={"username": f"u{i}", "password": "wrong password"})
    r = c.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and "this address" in r.json()["detail"]


def test_api_token_works_without_csrf_and_can_be_revoked(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    op = clients["operator"]
    r = op.post("/api/v1/auth/tokens", json={"name": "nightly export"})
    assert r.status_code == 201
    secret, tid = r.json()["token"], r.json()["info"]["id"]
    assert secret.startswith("vgl_")
    assert "token" not in str(op.get("/api/v1/auth/tokens").json())  # never shown again
    machine = client_for(ctx)
    h = {"Authorization": f"Bearer {secret}"}
    assert machine.get("/api/v1/cameras", headers=h).status_code == 200
    # No CSRF needed for a token: a browser never sends it on its own.
    r = machine.post("/api/v1/auth/tokens", json={"name": "second"}, headers=h)
    assert r.status_code == 201
    assert op.delete(f"/api/v1/auth/tokens/{tid}").status_code == 204
    assert machine.get("/api/v1/cameras", headers=h).status_code == 401
    assert op.delete(f"/api/v1/auth/tokens/{tid}").status_code == 404


def test_one_time_password_must_be_changed(clients: dict[str, Client], ctx: ApiContext) -> None:
    r = clients["admin"].post("/api/v1/users", json={"username": "temp", "role": "operator"})
    otp = r.json()["one_time_password"]
    assert otp and r.json()["user"]["must_change_password"]
    c = client_for(ctx).login("temp", otp)
    r = c.get("/api/v1/cameras")
    assert r.status_code == 403 and "one-time password" in r.json()["detail"]
    r = c.post(
        "/api/v1/auth/password",
        json={"current_password": "wrong one", "new_password": "my own new password"},
    )
    assert r.status_code == 400
    r = c.post(
        "/api/v1/auth/password",
        json={"current_password": otp, "new_password": "my own new password"},
    )
    assert r.status_code == 204
    assert c.get("/api/v1/cameras").status_code == 200


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("viewer", "get", "/api/v1/cameras", True),
        ("viewer", "get", "/api/v1/people", False),
        ("viewer", "get", "/api/v1/audit", False),
        ("viewer", "get", "/api/v1/users", False),
        ("operator", "get", "/api/v1/people", True),
        ("operator", "get", "/api/v1/audit", False),
        ("operator", "get", "/api/v1/users", False),
        ("operator", "get", "/api/v1/settings", False),
        ("auditor", "get", "/api/v1/audit", True),
        ("auditor", "get", "/api/v1/audit/verify", True),
        ("auditor", "get", "/api/v1/cameras", False),
        ("auditor", "get", "/api/v1/events", False),
        ("auditor", "get", "/api/v1/people", False),
        ("admin", "get", "/api/v1/audit", True),
        ("admin", "get", "/api/v1/settings", True),
    ],
)
def test_role_matrix(
    clients: dict[str, Client], role: str, method: str, path: str, allowed: bool
) -> None:
    r = getattr(clients[role], method)(path)
    if allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403, r.text
        assert f"the {role} role may not" in r.json()["detail"]


def test_users_admin_crud_and_last_admin(clients: dict[str, Client], ctx: ApiContext) -> None:
    a = clients["admin"]
    r = a.post(
        "/api/v1/users",
        json={"username": "dora", "role": "viewer", "password": "dora's password 1"},
    )
    assert r.status_code == 201 and r.json()["one_time_password"] is None
    uid = r.json()["user"]["id"]
    r = a.post("/api/v1/users", json={"username": "DORA", "role": "viewer"})
    assert r.status_code == 422 and "already exists" in r.json()["detail"]
    assert (
        a.post("/api/v1/users", json={"username": "bad name!", "role": "viewer"}).status_code == 422
    )
    assert a.post("/api/v1/users", json={"username": "x", "role": "god"}).status_code == 422
    r = a.patch(f"/api/v1/users/{uid}", json={"role": "operator"})
    assert r.status_code == 200 and r.json()["user"]["role"] == "operator"
    r = a.patch(f"/api/v1/users/{uid}", json={"reset_password": True})
    assert r.json()["one_time_password"]
    assert a.patch(f"/api/v1/users/{uid}", json={"disabled": True}).status_code == 200
    r = client_for(ctx).post(
        "/api/v1/auth/login", json={"username": "dora", "password": "dora's password 1"}
    )
    assert r.status_code == 401
    assert a.delete(f"/api/v1/users/{uid}").status_code == 204
    assert a.get(f"/api/v1/users/{uid}").status_code == 404
    me = a.get("/api/v1/auth/me").json()["user"]["id"]
    r = a.patch(f"/api/v1/users/{me}", json={"role": "viewer"})
    assert r.status_code == 422 and "last admin" in r.json()["detail"]
    assert a.delete(f"/api/v1/users/{me}").status_code == 422
    # Changes to users are audited.
    actions = [r.action for r in AuditLog.from_config(ctx.config).query(ctx.db, actor="admin")]
    assert actions.count("change_user") >= 4


def test_settings_redact_secrets(ctx: ApiContext) -> None:
    ctx.config.notify.mqtt.password = "hunter2hunter2"
    ctx.config.cameras[0].url = "rtsp://cam:s3cret@10.0.0.5/stream"
    c = client_for(ctx, "admin")
    text = c.get("/api/v1/settings").text
    assert "hunter2" not in text and "s3cret" not in text
    assert "rtsp://cam:***@10.0.0.5/stream" in text


def test_passwords_are_argon2_hashes(ctx: ApiContext) -> None:
    from sqlalchemy import select

    from vigil.store.models.users import User

    with ctx.db.session() as s:
        hashes = list(s.scalars(select(User.password_hash)))
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert accounts.authenticate(ctx.db, "ADMIN", PASSWORD) is not None  # names: any case
