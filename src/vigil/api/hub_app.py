"""The hub's web app (`vigil hub --listen`): network-wide views over every site's events,
camera status and backlog, search by photo across sites, clips fetched from a site on demand.

It reuses the edge app's accounts, sessions, CSRF, roles, audit routes and templates: the
hub's users, sessions and audit chain live in the hub database, its keys in the hub folder
(`create_hub_context` points the config's data_dir there).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from vigil.api.app import API_PREFIX, install_error_handlers
from vigil.api.context import ApiContext
from vigil.api.limits import install_request_limits
from vigil.config import VigilConfig
from vigil.faces.engine import FaceEngine
from vigil.store.db import Database
from vigil.sync.server import site_account

SiteConnector = Callable[[str], Awaitable[Any]]  # site -> a connected nats.NATS (connect_site)


@dataclass
class HubContext:
    """What the hub's routes need beyond the accounts and audit of `ApiContext`.

    - `sites`: the sites this hub admits (its `--site` logins), in display order.
    - `connect`: opens a NATS connection into one site's account (`connect_site`), or None
      when the hub runs without its nats-server (views only: no link state, no clips).
    - `monitor`: the hub nats-server's monitoring URL (`/leafz` tells which sites are linked).
    """

    hub_dir: Path
    sites: list[str]
    connect: SiteConnector | None = None
    monitor: str | None = None
    request_timeout_s: float = 120.0

    @property
    def thumbs_dir(self) -> Path:
        return self.hub_dir / "thumbs"

    @property
    def clips_dir(self) -> Path:
        return self.hub_dir / "clips"

    def linked_sites(self) -> set[str] | None:
        """Sites whose leaf link is up now; None when that cannot be known."""
        if self.monitor is None:
            return None
        try:
            with urllib.request.urlopen(f"{self.monitor}/leafz", timeout=2) as r:
                leafs = json.load(r).get("leafs") or []
        except OSError:
            return None
        accounts = {leaf.get("account") for leaf in leafs}
        return {s for s in self.sites if site_account(s) in accounts}


def hub_config(config: VigilConfig, hub_dir: Path) -> VigilConfig:
    """The config the hub's API runs with: its data folder (keys, set-up code) is the hub's."""
    cfg = config.model_copy(deep=True)
    cfg.storage.data_dir = hub_dir
    cfg.site.name = f"hub · {cfg.site.name}" if cfg.site.name != "vigil-site" else "hub"
    return cfg


def create_hub_context(
    config: VigilConfig,
    db: Database,
    hub_dir: Path,
    *,
    engine: FaceEngine | Callable[[], FaceEngine] | None = None,
) -> ApiContext:
    return ApiContext(hub_config(config, hub_dir), db, engine=engine)


def get_hub(request: Request) -> HubContext:
    return request.app.state.hub


def create_hub_app(ctx: ApiContext, hub: HubContext, *, web: bool = True) -> FastAPI:
    from vigil.api.routes import (
        audit_log,
        auth,
        hub_clips,
        hub_people,
        hub_search,
        hub_views,
        hub_watchlists,
        users,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        ctx.live.close()

    app = FastAPI(
        title="Vigil hub API",
        version="1",
        summary="Network-wide views of every site: status, backlog, events, search, clips.",
        description="Log in as on a site (POST /api/v1/auth/login). Searches by photo and clips "
        "need a stated reason and are written to the hub's audit log; a clip is also audited "
        "by the site that cut it.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.hub = hub
    install_error_handlers(app)
    install_request_limits(app, ctx)
    for r in (auth, users, audit_log, hub_views, hub_search, hub_clips, hub_people, hub_watchlists):
        app.include_router(r.router, prefix=API_PREFIX)
    if web:
        from vigil.web.hub_pages import mount_hub_web

        mount_hub_web(app)
    return app
