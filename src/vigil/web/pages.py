"""HTML pages. Each page checks the session like the API does; actions go through /api/v1.

`shared` holds the pages a site and the hub (`hub/pages.py`) both serve (login, set-up,
password, users, audit log); `gate` and `render` serve both, with the app's own menu
(`app.state.web_nav`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from vigil.api import accounts
from vigil.api.deps import ROLE_PERMS, Ctx, Perm, Principal, optional_principal
from vigil.api.routes.cameras import camera_out, find_camera
from vigil.api.routes.live import GRIDS
from vigil.camera.checksum import problem_counts
from vigil.camera.footage_retention import storage_status
from vigil.store.models.faces import LegalBasis
from vigil.web import pwa

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)  # a site's own pages
shared = APIRouter(include_in_schema=False)  # pages of a site and of the hub

MaybeUser = Annotated[Principal | None, Depends(optional_principal)]

Nav = list[tuple[str, str, Perm]]  # (path, label, permission)

NAV: Nav = [
    ("/", "Cameras", Perm.view),
    ("/live", "Live", Perm.view),
    ("/review", "Review", Perm.view),
    ("/events", "Events", Perm.view),
    ("/people", "People", Perm.people),
    ("/search", "Search", Perm.search),
    ("/users", "Users", Perm.users),
    ("/audit", "Audit log", Perm.audit),
    ("/privacy", "Privacy", Perm.audit),
]

DOCUMENTS = [  # (file stem under /api/v1/privacy/, title, for whom)
    ("notice", "Public notice", "posting at the site"),
    ("notice-workers", "Notice for workers' representatives (AI Act Art. 26(7))", "works council"),
    ("dpia", "Data protection impact assessment (draft, GDPR Art. 35)", "controller, DPO"),
    ("records", "Record of processing activities (GDPR Art. 30)", "controller, authority"),
]


def gate(request: Request, p: Principal | None, perm: Perm | None) -> Response | None:
    """A redirect or refusal when the visitor may not see the page, else None."""
    if p is None:
        target = quote(request.url.path)
        return RedirectResponse(f"/login?next={target}", status_code=303)
    if p.account.must_change_password and request.url.path != "/password":
        return RedirectResponse("/password", status_code=303)
    if perm is not None and perm not in ROLE_PERMS[p.role]:
        if request.url.path == "/" and Perm.audit in ROLE_PERMS[p.role]:
            return RedirectResponse("/audit", status_code=303)
        return render(request, p, "forbidden.html", status_code=403)
    return None


def render(
    request: Request, p: Principal | None, name: str, status_code: int = 200, **data: Any
) -> HTMLResponse:
    ctx = request.app.state.ctx
    perms = ROLE_PERMS[p.role] if p else frozenset()
    nav = [(href, label) for href, label, perm in request.app.state.web_nav if perm in perms]
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": p,
            "nav": nav,
            "site": ctx.config.site.name,
            "perms": perms,
            "pwa": getattr(request.app.state, "web_pwa", False),  # a site's, not the hub's
            **data,
        },
        status_code=status_code,
    )


def safe_next(raw: str | None) -> str:
    """Where to go after logging in: `raw` when it is a path on this site, else "/".

    Parsed, not prefix-matched: browsers read `/\\host`, `/<TAB>/host` or `\\\\host` as another
    site (they drop tabs and newlines and treat a backslash as a slash), so any backslash or
    control character, white space, a scheme, a host, or a leading `//` sends the user home."""
    if not raw or any(c == "\\" or c.isspace() or not c.isprintable() for c in raw):
        return "/"
    if not raw.startswith("/") or raw.startswith("//"):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return "/"
    return raw


@shared.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if not accounts.admin_exists(ctx.db):
        return RedirectResponse("/setup", status_code=303)
    return render(request, None, "login.html", next=safe_next(request.query_params.get("next")))


@shared.get("/setup", response_class=HTMLResponse)
def setup_page(request: Request, ctx: Ctx) -> Response:
    if accounts.admin_exists(ctx.db):  # offered only while no admin exists
        return RedirectResponse("/login", status_code=303)
    return render(request, None, "setup.html")


@shared.get("/password", response_class=HTMLResponse)
def password_page(request: Request, p: MaybeUser) -> Response:
    return gate(request, p, None) or render(request, p, "password.html")


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if p is None and not accounts.admin_exists(ctx.db):
        return RedirectResponse("/setup", status_code=303)
    if refused := gate(request, p, Perm.view):
        return refused
    statuses, problems = ctx.camera_statuses(), problem_counts(ctx.db)
    cams = [camera_out(ctx, c, statuses, problems) for c in ctx.config.cameras]
    storage = storage_status(ctx.data_dir, ctx.config.recording)
    return render(request, p, "dashboard.html", cameras=cams, storage=storage)


@router.get("/cameras/{name}", response_class=HTMLResponse)
def camera_page(name: str, request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.view):
        return refused
    cam = camera_out(ctx, find_camera(ctx, name), ctx.camera_statuses(), problem_counts(ctx.db))
    return render(request, p, "camera.html", camera=cam)


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.view):
        return refused
    names = [c.name for c in ctx.config.cameras if c.enabled]
    default = next(n for n in GRIDS if n >= min(len(names), 16) or n == 16)
    return render(
        request, p, "live.html", cameras=names, grids=GRIDS, default_grid=default
    )


@router.get("/cameras/{name}/zones", response_class=HTMLResponse)
def zones_page(name: str, request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.view):
        return refused
    cam = camera_out(ctx, find_camera(ctx, name), ctx.camera_statuses())
    return render(request, p, "zones.html", camera=cam)


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.view):
        return refused
    return render(request, p, "events.html", cameras=[c.name for c in ctx.config.cameras])


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.view):
        return refused
    return render(request, p, "review.html", cameras=[c.name for c in ctx.config.cameras])


@router.get("/people", response_class=HTMLResponse)
def people_page(request: Request, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.people):
        return refused
    bases = [(b.value, b.needs_note) for b in LegalBasis]
    return render(request, p, "people.html", bases=bases)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, p: MaybeUser) -> Response:
    return gate(request, p, Perm.search) or render(request, p, "search.html")


@shared.get("/users", response_class=HTMLResponse)
def users_page(request: Request, p: MaybeUser) -> Response:
    return gate(request, p, Perm.users) or render(request, p, "users.html")


@shared.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, p: MaybeUser) -> Response:
    return gate(request, p, Perm.audit) or render(request, p, "audit.html")


@router.get("/privacy", response_class=HTMLResponse)
def privacy_page(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.audit):
        return refused
    cfg = ctx.config
    cams = [(c.name, cfg.recognises(c), cfg.recognition_note(c)) for c in cfg.cameras]
    return render(request, p, "privacy.html", documents=DOCUMENTS, cameras=cams)


def mount_pages(app: FastAPI, nav: Nav, own: APIRouter) -> None:
    """Serve the static files, the shared pages and `own` pages, with `nav` as the menu."""
    app.state.web_nav = nav
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(shared)
    app.include_router(own)


@router.get("/events/{uid}", response_class=HTMLResponse)
def event_page(uid: str, request: Request, p: MaybeUser) -> Response:
    """One event: where a pushed notification opens (the page reads it from the API, which
    shows the person only to roles that see identities)."""
    return gate(request, p, Perm.view) or render(request, p, "event.html", uid=uid)


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, ctx: Ctx, p: MaybeUser) -> Response:
    if refused := gate(request, p, Perm.view):
        return refused
    cameras = [c.name for c in ctx.config.cameras]
    return render(
        request, p, "notifications.html", cameras=cameras, push=ctx.config.notify.push.enabled
    )


def mount_web(app: FastAPI) -> None:
    mount_pages(app, NAV, router)
    app.include_router(pwa.router)
    app.state.web_pwa = True
