"""First-run set-up needs the one-time code `vigil serve` prints; it cannot be taken over."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import delete

from tests.api.helpers import PASSWORD, client_for
from vigil.api import ApiContext, accounts
from vigil.config import VigilConfig
from vigil.store.db import Database
from vigil.store.models.users import Role, User, UserSession

URL = "/api/v1/auth/setup"


def fresh(tmp_path: Path) -> ApiContext:
    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(tmp_path / "var")}})
    return ApiContext(cfg, Database(cfg.storage.resolved_database_url()))


def test_setup_needs_the_printed_code_once(tmp_path: Path) -> None:
    ctx = fresh(tmp_path)
    c = client_for(ctx)
    assert c.get("/api/v1/health").json()["setup_required"] is True
    body = {"username": "boss", "password": PASSWORD}
    # Before the server issued a code, nobody can set up.
    r = c.post(URL, json={**body, "code": "anything"})
    assert r.status_code == 403 and "no set-up code is active" in r.json()["detail"]
    code = ctx.setup_code.offer(ctx.db)
    assert code is not None
    path = ctx.data_dir / "setup-code"
    assert path.read_text().strip() == code
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    r = c.post(URL, json=body)
    assert r.status_code == 403 and "set-up code is required" in r.json()["detail"]
    r = c.post(URL, json={**body, "code": code[:-1] + ("x" if code[-1] != "x" else "y")})
    assert r.status_code == 403 and r.json()["detail"] == "wrong set-up code"
    assert not accounts.admin_exists(ctx.db)
    r = c.post(URL, json={**body, "password": "short", "code": code})
    assert r.status_code == 422  # bad input does not spend the code
    r = c.post(URL, json={**body, "code": f"  {code} "})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["role"] == "admin"
    assert c.get("/api/v1/auth/me").json()["user"]["username"] == "boss"  # logged in
    assert c.get("/api/v1/health").json()["setup_required"] is False
    assert not path.exists()
    # Second use: refused while the admin exists ...
    r = client_for(ctx).post(URL, json={"username": "x", "password": PASSWORD, "code": code})
    assert r.status_code == 409
    # ... and still refused (spent) if no admin existed any more.
    with ctx.db.session() as s:
        s.execute(delete(UserSession))
        s.execute(delete(User))
    r = client_for(ctx).post(URL, json={"username": "x", "password": PASSWORD, "code": code})
    assert r.status_code == 403
    assert not accounts.admin_exists(ctx.db)
    ctx.db.close()


def test_wrong_codes_are_rate_limited_like_logins(tmp_path: Path) -> None:
    ctx = fresh(tmp_path)
    code = ctx.setup_code.offer(ctx.db)
    c = client_for(ctx)
    body = {"username": "boss", "password": PASSWORD, "code": "wrong-guess"}
    for _ in range(ctx.config.api.login_attempts):
        assert c.post(URL, json=body).status_code == 403
    r = c.post(URL, json={**body, "code": code})  # even the right code waits now
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "wrong set-up codes" in r.json()["detail"]
    assert not accounts.admin_exists(ctx.db)
    ctx.db.close()


def test_an_admin_made_elsewhere_expires_the_code(tmp_path: Path) -> None:
    ctx = fresh(tmp_path)
    code = ctx.setup_code.offer(ctx.db)
    assert code and ctx.setup_code.path.exists()
    accounts.create_user(ctx.db, "cli-admin", PASSWORD, Role.admin, created_by="cli")
    r = client_for(ctx).post(URL, json={"username": "x", "password": PASSWORD, "code": code})
    assert r.status_code == 409
    assert not ctx.setup_code.path.exists() and not ctx.setup_code.active
    assert ctx.setup_code.offer(ctx.db) is None  # a restart with an admin prints no code
    ctx.db.close()


def test_serve_prints_the_code_only_while_no_admin(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from vigil.cli.serve_cmd import print_setup_code

    ctx = fresh(tmp_path)
    print_setup_code(ctx)
    out = capsys.readouterr().out
    code = (ctx.data_dir / "setup-code").read_text().strip()
    assert code and code in out and "setup-code" in out
    r = client_for(ctx).post(URL, json={"username": "boss", "password": PASSWORD, "code": code})
    assert r.status_code == 201
    print_setup_code(ctx)  # restarted with an admin: nothing printed, no file
    assert "set-up code" not in capsys.readouterr().out
    assert not (ctx.data_dir / "setup-code").exists()
    ctx.db.close()
