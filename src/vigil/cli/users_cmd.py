"""`vigil users ...`: the first admin (one-time password), list users, reset a password,
grant or withdraw unmasking (revealing people on privacy-protected cameras)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from vigil.cli.state import console, current_user, print_json, state
from vigil.errors import InputError
from vigil.store.enums import Role

# `vigil.api` loads FastAPI and the database layer: imported in the commands.
if TYPE_CHECKING:
    from vigil.api.accounts import Account

app = typer.Typer(help="Web UI and API accounts.", no_args_is_help=True)


@app.command("create-admin")
def create_admin(
    ctx: typer.Context,
    username: str = typer.Argument("admin", help="User name of the admin."),
) -> None:
    """Create the first admin and print a one-time password (changed at first login)."""
    from vigil.api import accounts
    from vigil.api.security import one_time_password
    from vigil.privacy.audit import Action

    st = state(ctx)
    db = st.db()
    if accounts.admin_exists(db):
        raise InputError(
            "an admin exists already",
            hint="log in as that admin, or `vigil users reset-password NAME`",
        )
    otp = one_time_password()
    account = accounts.create_user(
        db, username, otp, Role.admin, created_by=f"cli:{current_user()}", must_change_password=True
    )
    st.audit(Action.change_user, target=("user", account.username), details={"role": "admin"})
    console.print(f"admin [bold]{username}[/] created; one-time password (shown once):")
    console.print(f"  [bold]{otp}[/]", highlight=False)
    console.print("Log in to the web UI with it; you will be asked to choose a new password.")


def _find(db, username: str) -> Account:
    from vigil.api import accounts

    match = [a for a in accounts.list_users(db) if a.username.lower() == username.lower()]
    if not match:
        raise InputError(f"no user named {username!r}", hint="`vigil users list` shows them")
    return match[0]


@app.command("reset-password")
def reset_password(ctx: typer.Context, username: str) -> None:
    """Give a user a new one-time password (their sessions end, their API tokens are revoked)."""
    from vigil.api import accounts
    from vigil.api.security import one_time_password
    from vigil.privacy.audit import Action

    st = state(ctx)
    db = st.db()
    match = [_find(db, username)]
    otp = one_time_password()
    accounts.update_user(db, match[0].id, password=otp, disabled=False)
    st.audit(
        Action.change_user, target=("user", match[0].username), details={"reset_password": True}
    )
    console.print(f"one-time password for {match[0].username} (shown once):")
    console.print(f"  [bold]{otp}[/]", highlight=False)


@app.command("unmask")
def unmask(
    ctx: typer.Context,
    username: str,
    revoke: bool = typer.Option(False, "--revoke", help="Withdraw the grant instead."),
) -> None:
    """Let a user reveal people on privacy-protected cameras (each reveal needs a reason
    and is audited); admins always may. Audited as a user change."""
    from vigil.api import accounts
    from vigil.privacy.audit import Action

    st = state(ctx)
    db = st.db()
    account = accounts.update_user(db, _find(db, username).id, can_unmask=not revoke)
    st.audit(
        Action.change_user,
        target=("user", account.username),
        details={"can_unmask": str(account.can_unmask)},
    )
    verb = "may no longer" if revoke else "may now"
    console.print(f"{account.username} {verb} reveal people on privacy-protected cameras")


@app.command("list")
def list_users(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="JSON output.")
) -> None:
    """Every user with role and state."""
    from vigil.api import accounts

    users = accounts.list_users(state(ctx).db())
    if as_json:
        print_json([{**u.__dict__, "role": u.role.value} for u in users])
        return
    for u in users:
        flags = " (disabled)" if u.disabled else ""
        flags += " (one-time password)" if u.must_change_password else ""
        flags += " (may unmask)" if u.can_unmask and u.role != Role.admin else ""
        console.print(f"{u.username:<24} {u.role.value:<9}{flags}")
