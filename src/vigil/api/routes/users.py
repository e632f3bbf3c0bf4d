"""User management (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from vigil.api import accounts
from vigil.api.deps import Admin, Ctx, Id, audit
from vigil.api.routes.auth import token_out, user_out
from vigil.api.schemas import TokenOut, UserCreatedOut, UserCreateIn, UserOut, UserUpdateIn
from vigil.api.security import one_time_password
from vigil.privacy.audit import Action

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=list[UserOut], summary="Every user")
def list_users(p: Admin, ctx: Ctx) -> list[UserOut]:
    return [user_out(a) for a in accounts.list_users(ctx.db)]


@router.post("", response_model=UserCreatedOut, status_code=201, summary="Create a user")
def create_user(body: UserCreateIn, p: Admin, ctx: Ctx, request: Request) -> UserCreatedOut:
    otp = None if body.password else one_time_password()
    account = accounts.create_user(
        ctx.db,
        body.username,
        body.password or otp or "",
        body.role,
        created_by=p.username,
        must_change_password=otp is not None,
    )
    audit(
        ctx,
        request,
        p,
        Action.change_user,
        target_kind="user",
        target_id=account.username,
        details={"role": account.role.value},
    )
    return UserCreatedOut(user=user_out(account), one_time_password=otp)


@router.get("/{user_id}", response_model=UserOut, summary="One user")
def get_user(user_id: Id, p: Admin, ctx: Ctx) -> UserOut:
    return user_out(accounts.get_user(ctx.db, user_id))


@router.get(
    "/{user_id}/tokens",
    response_model=list[TokenOut],
    summary="A user's API tokens (revoke one with DELETE /auth/tokens/{id})",
)
def list_user_tokens(user_id: Id, p: Admin, ctx: Ctx) -> list[TokenOut]:
    accounts.get_user(ctx.db, user_id)  # 404 for no such user
    return [token_out(t) for t in accounts.list_tokens(ctx.db, user_id)]


@router.patch(
    "/{user_id}",
    response_model=UserCreatedOut,
    summary="Change role, disable/enable, grant unmasking, or reset to a one-time password "
    "(a reset ends the user's sessions and revokes their API tokens)",
)
def update_user(
    user_id: Id, body: UserUpdateIn, p: Admin, ctx: Ctx, request: Request
) -> UserCreatedOut:
    otp = one_time_password() if body.reset_password else None
    before = accounts.get_user(ctx.db, user_id)
    tokens = len(accounts.list_tokens(ctx.db, user_id)) if otp else 0
    account = accounts.update_user(
        ctx.db,
        user_id,
        role=body.role,
        disabled=body.disabled,
        password=otp,
        can_unmask=body.can_unmask,
    )
    changes = body.model_dump(exclude_none=True)
    if account.role != before.role:
        changes["role"] = f"{before.role.value} -> {account.role.value}"
    if otp:
        changes["api_tokens_revoked"] = tokens
    audit(
        ctx,
        request,
        p,
        Action.change_role if account.role != before.role else Action.change_user,
        target_kind="user",
        target_id=account.username,
        details={k: str(v) for k, v in changes.items()},
    )
    return UserCreatedOut(user=user_out(account), one_time_password=otp)


@router.delete("/{user_id}", status_code=204, summary="Delete a user")
def delete_user(user_id: Id, p: Admin, ctx: Ctx, request: Request) -> Response:
    account = accounts.get_user(ctx.db, user_id)
    accounts.delete_user(ctx.db, user_id)
    audit(ctx, request, p, Action.change_user, target_kind="user", target_id=account.username)
    return Response(status_code=204)
