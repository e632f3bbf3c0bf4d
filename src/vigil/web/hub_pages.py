"""The hub's HTML pages (`vigil hub --listen`): network dashboard, events across sites, search
by photo across sites, and the shared login, users and audit pages. Actions go through
/api/v1 like on a site."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from vigil.api import accounts
from vigil.api.deps import ROLE_PERMS, Ctx, Perm, Principal, optional_principal
from vigil.web.pages import HERE, templates

router = APIRouter(include_in_schema=False)
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]

HUB_NAV = [  # (path, label, permission)
    ("/", "Network", Perm.view),
    ("/events", "Events", Perm.view),
    ("/search", "Search", Perm.search),
    ("/users", "Users", Perm.users),
    ("/audit", "Audit log", Perm.audit),
]


def _render(
    request: Request, p: Principal | None, name: str, status_code: int = 200, **data: Any
) -> HTMLResponse:
    ctx = request.app.state.ctx
    perms = ROLE_PERMS[p.role] if p else frozenset()
    nav = [(href, label) for href, label, perm in HUB_NAV if perm in perms]
    return templates.TemplateResponse(
        request,
        name,
        {"user": p, "nav": nav, "site": ctx.config.site.name, "perms": perms, **data},
        status_code=status_code,
    )


def _gate(request: Request, p: Principal | None, perm: Perm | None) -> Response | None:
    if p is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if p.account.must_change_password and request.url.path != "/password":
        return RedirectResponse("/password", status_code=303)
    if perm is not None and perm not in ROLE_PERMS[p.role]:
        if request.url.path == "/" and Perm.audit in ROLE_PERMS[p.role]:
            return RedirectResponse("/audit", status_code=303)
        return _render(request, p, "forbidden.html", status_code=403)
    return None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx) -> Response:
    if not accounts.admin_exists(ctx.db):
        return RedirectResponse("/setup", status_code=303)
    return _render(request, None, "login.html")


@router.get("/setup", response_class=HTMLResponse)
def setup_page(request: Request, ctx: Ctx) -> Response:
    if accounts.admin_exists(ctx.db):
        return RedirectResponse("/login", status_code=303)
    return _render(request, None, "setup.html")


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, p: MaybeUser) -> Response:
    return _gate(request, p, None) or _render(request, p, "password.html")


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if p is None and not accounts.admin_exists(ctx.db):
        return RedirectResponse("/setup", status_code=303)
    return _gate(request, p, Perm.view) or _render(request, p, "hub_dashboard.html")


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, p: MaybeUser) -> Response:
    if gate := _gate(request, p, Perm.view):
        return gate
    assert p is not None
    sites = request.app.state.hub.sites
    return _render(request, p, "hub_events.html", sites=sites, can_export=p.can(Perm.export))


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, p: MaybeUser) -> Response:
    return _gate(request, p, Perm.search) or _render(request, p, "hub_search.html")


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, p: MaybeUser) -> Response:
    return _gate(request, p, Perm.users) or _render(request, p, "users.html")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, p: MaybeUser) -> Response:
    return _gate(request, p, Perm.audit) or _render(request, p, "audit.html")


def mount_hub_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
