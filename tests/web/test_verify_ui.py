"""The pages of match verification render: the "to verify" list on the events page for those
who may verify (not for viewers), and the confirmations setting of watchlists."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.helpers import PASSWORD
from vigil.api import ApiContext, accounts, create_app
from vigil.config import VigilConfig
from vigil.store.db import Database
from vigil.store.models.users import Role


def _client(ctx: ApiContext, user: str) -> TestClient:
    c = TestClient(create_app(ctx))
    r = c.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c


def test_verify_list_and_watchlist_confirmations_render(tmp_path: Path) -> None:
    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(tmp_path / "var")}})
    ctx = ApiContext(cfg, Database(cfg.storage.resolved_database_url()))
    for name, role in (("admin", Role.admin), ("op", Role.operator), ("view", Role.viewer)):
        accounts.create_user(ctx.db, name, PASSWORD, role, created_by="test")
    try:
        op = _client(ctx, "op")
        page = op.get("/events")
        assert page.status_code == 200
        assert 'id="verify-list"' in page.text and "To verify" in page.text
        people = op.get("/people")
        assert people.status_code == 200 and 'name="confirmations"' in people.text
        viewer = _client(ctx, "view").get("/events")
        assert viewer.status_code == 200 and 'id="verify-list"' not in viewer.text
        js = op.get("/static/app.js").text
        assert "/api/v1/verifications" in js and "confirmations_required" in js
    finally:
        ctx.db.close()
