"""The hub's web app (`web: true` in hub.yaml): network-wide views over every site's events,
camera status and backlog, search by photo across sites, clips fetched from a site on demand.

It reuses the edge app's accounts, sessions, CSRF, roles, audit routes and templates: the
hub's users, sessions and audit chain live in the hub database, its keys in the hub folder
(`create_hub_context`: `HubConfig.api_config`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from vigil.api.app import API_PREFIX, install_error_handlers
from vigil.api.context import ApiContext
from vigil.api.limits import install_request_limits
from vigil.hub.context import HubContext


def create_hub_app(ctx: ApiContext, hub: HubContext, *, web: bool = True) -> FastAPI:
    from vigil.api.routes import audit_log, auth, users
    from vigil.hub.routes import audit_heads, clips, people, search, views, watchlists

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
    for r in (auth, users, audit_log, views, search, clips, people, watchlists, audit_heads):
        app.include_router(r.router, prefix=API_PREFIX)
    if web:
        from vigil.hub.pages import mount_hub_web

        mount_hub_web(app)
    return app
