"""Who is calling: session cookie (with CSRF check) or API token, and what their role allows."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from vigil.api import accounts
from vigil.api.accounts import Account
from vigil.api.auditing import AuditEntry
from vigil.api.context import ApiContext
from vigil.api.proxies import client_from
from vigil.privacy.audit import Action
from vigil.store.models.users import Role

SESSION_COOKIE = "vigil_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_ID = 2**63 - 1  # database integer keys

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="Numeric id")]


class Perm(StrEnum):
    view = "view"  # cameras, live and recorded footage, events
    export = "export"
    search = "search"
    people = "people"  # list, enrol, remove
    users = "users"
    settings = "settings"
    audit = "audit"
    unmask = "unmask"  # reveal people on privacy-protected cameras (admins, or a per-user grant)
    verify = "verify"  # confirm or reject a match before it is acted on (AI Act Art. 14(5))
    ptz = "ptz"  # pan, tilt, zoom a camera and recall its presets (ONVIF)


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.admin: frozenset(Perm),
    Role.operator: frozenset(
        {Perm.view, Perm.export, Perm.search, Perm.people, Perm.verify, Perm.ptz}
    ),
    Role.viewer: frozenset({Perm.view}),
    Role.auditor: frozenset({Perm.audit}),
}


@dataclass(frozen=True)
class Principal:
    account: Account
    via: str  # "session" or "token"
    session_id: int | None = None
    csrf_token: str | None = None

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def role(self) -> Role:
        return self.account.role

    def can(self, perm: Perm) -> bool:
        if perm is Perm.unmask and self.account.can_unmask:
            return True
        return perm in ROLE_PERMS[self.role]


def get_ctx(request: Request) -> ApiContext:
    return request.app.state.ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]


def client_address(request: Request) -> str:
    """The client's address, for the audit log, the login limit and sessions: the connecting
    address, or what X-Forwarded-For says when that is one of `api.trusted_proxies`."""
    peer = request.client.host if request.client else None
    trusted = request.app.state.ctx.config.api.trusted_proxies
    return client_from(peer, request.headers.getlist("x-forwarded-for"), trusted)


def _from_request(request: Request, ctx: ApiContext) -> Principal | None:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, secret = auth.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise HTTPException(401, "Authorization must be 'Bearer <API token>'")
        account = accounts.token_user(ctx.db, secret.strip())
        if account is None:
            raise HTTPException(401, "API token is invalid, expired or revoked")
        return Principal(account, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    info = accounts.session_user(ctx.db, cookie, ctx.config.api.session_hours)
    if info is None:
        return None
    return Principal(info.account, "session", info.id, info.csrf_token)


def optional_principal(request: Request, ctx: Ctx) -> Principal | None:
    """The caller when logged in (no CSRF check): for pages that redirect to the login."""
    return _from_request(request, ctx)


def authenticated(request: Request, ctx: Ctx) -> Principal:
    """The logged-in caller; 401 when not logged in, 403 when a cookie request lacks CSRF."""
    p = _from_request(request, ctx)
    if p is None:
        raise HTTPException(401, "not logged in", headers={"WWW-Authenticate": "Bearer"})
    if p.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not secrets.compare_digest(sent, p.csrf_token or ""):
            raise HTTPException(403, f"CSRF token missing or wrong (send the {CSRF_HEADER} header)")
    request.state.principal = p
    return p


def active(p: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """The caller, refused while they still hold a one-time password."""
    if p.account.must_change_password:
        raise HTTPException(403, "change your one-time password first (POST /api/v1/auth/password)")
    return p


def require(perm: Perm):
    def check(p: Annotated[Principal, Depends(active)]) -> Principal:
        if not p.can(perm):
            raise HTTPException(403, f"the {p.role.value} role may not {_WHAT[perm]}")
        return p

    return check


_WHAT = {
    Perm.view: "view cameras, footage or events",
    Perm.export: "export footage",
    Perm.search: "search by face",
    Perm.people: "see, enrol or remove people",
    Perm.users: "manage users",
    Perm.settings: "read the settings",
    Perm.audit: "read the audit log",
    Perm.unmask: "reveal people on privacy-protected cameras (ask an admin for the grant)",
    Perm.verify: "confirm or reject matches",
    Perm.ptz: "move cameras",
}

Auth = Annotated[Principal, Depends(active)]
Viewer = Annotated[Principal, Depends(require(Perm.view))]
Exporter = Annotated[Principal, Depends(require(Perm.export))]
Searcher = Annotated[Principal, Depends(require(Perm.search))]
PeopleManager = Annotated[Principal, Depends(require(Perm.people))]
Admin = Annotated[Principal, Depends(require(Perm.users))]
SettingsReader = Annotated[Principal, Depends(require(Perm.settings))]
AuditReader = Annotated[Principal, Depends(require(Perm.audit))]
Unmasker = Annotated[Principal, Depends(require(Perm.unmask))]
Verifier = Annotated[Principal, Depends(require(Perm.verify))]
PtzDriver = Annotated[Principal, Depends(require(Perm.ptz))]


def audit(
    ctx: ApiContext, request: Request, p: Principal, action: Action, reason: str = "", **kw: object
) -> None:
    ctx.record(
        AuditEntry(
            actor=p.username,
            role=p.role.value,
            action=action,
            reason=reason,
            source=client_address(request),
            **kw,  # type: ignore[arg-type]  # callers pass AuditEntry fields by name
        )
    )
