"""Health, first-run set-up, login/logout, own password and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from vigil.api import accounts
from vigil.api.deps import (
    SESSION_COOKIE,
    Auth,
    Ctx,
    Id,
    Perm,
    Principal,
    audit,
    authenticated,
    client_address,
)
from vigil.api.schemas import (
    HealthOut,
    LoginIn,
    MeOut,
    PasswordChangeIn,
    SetupIn,
    TokenCreatedOut,
    TokenCreateIn,
    TokenOut,
    UserOut,
)
from vigil.errors import InputError
from vigil.privacy.audit import Action
from vigil.store.models.users import Role

router = APIRouter(tags=["auth"])


def user_out(a: accounts.Account) -> UserOut:
    return UserOut(**a.__dict__)


def token_out(t: accounts.TokenInfo) -> TokenOut:
    return TokenOut(
        id=t.id,
        name=t.name,
        prefix=t.prefix,
        created_at=t.created_at,
        last_used_at=t.last_used_at,
        expires_at=t.expires_at,
    )


def me_out(p: Principal) -> MeOut:
    perms = sorted(x.value for x in Perm if p.can(x))  # the role's, plus a per-user unmask grant
    return MeOut(user=user_out(p.account), permissions=perms, csrf_token=p.csrf_token)


@router.get("/health", response_model=HealthOut, summary="Is the server up; is set-up needed")
def health(ctx: Ctx) -> HealthOut:
    return HealthOut(
        ok=True, site=ctx.config.site.name, setup_required=not accounts.admin_exists(ctx.db)
    )


def _start_session(ctx: Ctx, request: Request, response: Response, account) -> MeOut:
    hours = ctx.config.api.session_hours
    new = accounts.open_session(ctx.db, account.id, hours, client_address(request))
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=int(hours * 3600),
        httponly=True,
        samesite="strict",
        secure=ctx.config.api.secure_cookies,
        path="/",
    )
    p = Principal(account, "session", None, new.csrf_token)
    return me_out(p)


@router.post(
    "/auth/setup",
    response_model=MeOut,
    status_code=201,
    summary="First run: create the admin with the set-up code `vigil serve` printed",
    responses={
        403: {"description": "Set-up code missing, wrong or spent."},
        409: {"description": "An admin exists already."},
        429: {"description": "Too many wrong codes"},
    },
)
def setup(body: SetupIn, ctx: Ctx, request: Request, response: Response) -> MeOut:
    gate = ctx.setup_code
    client = client_address(request)
    with gate.lock:  # check the code, create the admin and spend the code as one step
        if accounts.admin_exists(ctx.db):
            gate.expire()
            raise HTTPException(409, "set-up is done: an admin exists already; log in instead")
        refuse_if_limited(ctx, body.username, client, "wrong set-up codes")
        if not gate.matches(body.code):
            ctx.limiter.failed(body.username, client)
            raise HTTPException(403, _setup_refusal(gate.active, body.code))
        account = accounts.create_user(
            ctx.db, body.username, body.password, Role.admin, created_by="first-run set-up"
        )
        gate.expire()
    ctx.limiter.succeeded(body.username, client)
    me = _start_session(ctx, request, response, account)
    audit(
        ctx,
        request,
        Principal(account, "session"),
        Action.change_user,
        target_kind="user",
        target_id=account.username,
        details={"role": "admin", "via": "first-run set-up"},
    )
    return me


def _setup_refusal(active: bool, code: str) -> str:
    if not active:
        return (
            "no set-up code is active: restart `vigil serve` to get one, "
            "or create the admin with `vigil users create-admin`"
        )
    if not code.strip():
        return (
            "the set-up code is required: `vigil serve` printed it (also in <data_dir>/setup-code)"
        )
    return "wrong set-up code"


def refuse_if_limited(ctx: Ctx, username: str, client: str, tries: str) -> None:
    """429 with Retry-After while this client must wait (`security.LoginLimiter`): after its
    failures for this name, its failures overall, or, once it has failed for this name
    itself, everyone's failures for the name. A client that has not failed is not held."""
    blocked = ctx.limiter.retry_after(username, client)
    if blocked is not None:
        wait, what = blocked
        raise HTTPException(
            429,
            f"too many {tries} for {what}; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )


@router.post(
    "/auth/login",
    response_model=MeOut,
    summary="Log in: sets the session cookie, returns the CSRF token",
    responses={401: {"description": "Wrong name or password."}, 429: {"description": "Too many"}},
)
def login(body: LoginIn, ctx: Ctx, request: Request, response: Response) -> MeOut:
    client = client_address(request)
    refuse_if_limited(ctx, body.username, client, "failed logins")
    account = accounts.authenticate(ctx.db, body.username, body.password)
    if account is None:
        ctx.limiter.failed(body.username, client)
        raise HTTPException(401, "wrong user name or password")
    ctx.limiter.succeeded(body.username, client)
    return _start_session(ctx, request, response, account)


@router.post("/auth/logout", status_code=204, summary="Log out (ends this session)")
def logout(request: Request, ctx: Ctx, response: Response) -> Response:
    p = authenticated(request, ctx)
    if p.session_id is not None:
        accounts.close_session(ctx.db, p.session_id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=MeOut, summary="Who am I, and what may I do")
def me(request: Request, ctx: Ctx) -> MeOut:
    return me_out(authenticated(request, ctx))


@router.post(
    "/auth/password",
    status_code=204,
    summary="Change my password (my other sessions end; this one and my API tokens stay)",
)
def change_password(body: PasswordChangeIn, request: Request, ctx: Ctx) -> Response:
    p = authenticated(request, ctx)
    try:
        ended = accounts.change_password(
            ctx.db, p.account.id, body.current_password, body.new_password, p.session_id
        )
    except InputError as exc:
        raise HTTPException(400, exc.message) from exc
    audit(
        ctx,
        request,
        p,
        Action.change_user,
        target_kind="user",
        target_id=p.username,
        details={"password": "changed", "other_sessions_ended": str(ended)},
    )
    return Response(status_code=204)


@router.get("/auth/tokens", response_model=list[TokenOut], summary="My API tokens")
def list_tokens(p: Auth, ctx: Ctx) -> list[TokenOut]:
    return [token_out(t) for t in accounts.list_tokens(ctx.db, p.account.id)]


@router.post(
    "/auth/tokens",
    response_model=TokenCreatedOut,
    status_code=201,
    summary="Create an API token (acts as me; the secret is shown once)",
)
def create_token(body: TokenCreateIn, p: Auth, ctx: Ctx, request: Request) -> TokenCreatedOut:
    secret, info = accounts.create_token(ctx.db, p.account.id, body.name, body.days)
    audit(ctx, request, p, Action.change_user, target_kind="api_token", target_id=str(info.id))
    return TokenCreatedOut(token=secret, info=token_out(info))


@router.delete(
    "/auth/tokens/{token_id}",
    status_code=204,
    summary="Revoke an API token for good: one of mine, or (admins) anyone's",
    responses={404: {"description": "No such token, or another user's (non-admins)."}},
)
def revoke_token(token_id: Id, p: Auth, ctx: Ctx, request: Request) -> Response:
    owner_id = None if p.can(Perm.users) else p.account.id
    info, owner = accounts.revoke_token(ctx.db, token_id, owner_id)
    audit(
        ctx,
        request,
        p,
        Action.change_user,
        target_kind="api_token",
        target_id=str(token_id),
        details={"revoked": info.prefix, "name": info.name, "owner": owner},
    )
    return Response(status_code=204)
