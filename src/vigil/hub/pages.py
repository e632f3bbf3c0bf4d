"""The hub's HTML pages (`web: true` in hub.yaml): network dashboard, events across sites, search
by photo across sites, people and watchlists at the hub (changes: admins only); login, set-up,
password, users and audit pages are the site's own (`web.pages.shared`). Actions go through
/api/v1 like on a site."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vigil.api import accounts
from vigil.api.deps import Ctx, Perm
from vigil.store.models.faces import LegalBasis
from vigil.store.models.users import Role
from vigil.web.pages import MaybeUser, Nav, gate, mount_pages, render

router = APIRouter(include_in_schema=False)

HUB_NAV: Nav = [
    ("/", "Network", Perm.view),
    ("/events", "Events", Perm.view),
    ("/search", "Search", Perm.search),
    ("/people", "People", Perm.people),
    ("/users", "Users", Perm.users),
    ("/audit", "Audit log", Perm.audit),
]


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if p is None and not accounts.admin_exists(ctx.db):
        return RedirectResponse("/setup", status_code=303)
    return gate(request, p, Perm.view) or render(request, p, "hub_dashboard.html")


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.view):
        return refused
    assert p is not None
    sites = request.app.state.hub.sites
    return render(request, p, "hub_events.html", sites=sites, can_export=p.can(Perm.export))


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, p: MaybeUser) -> Response:
    return gate(request, p, Perm.search) or render(request, p, "hub_search.html")


@router.get("/people", response_class=HTMLResponse)
def people_page(request: Request, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.people):
        return refused
    assert p is not None
    return render(
        request,
        p,
        "hub_people.html",
        bases=[(b.value, b.needs_note) for b in LegalBasis],
        sites=request.app.state.hub.sites,
        can_change=p.role is Role.admin,  # the API's rule (hub_people.gallery_admin)
    )


def mount_hub_web(app: FastAPI) -> None:
    mount_pages(app, HUB_NAV, router)
