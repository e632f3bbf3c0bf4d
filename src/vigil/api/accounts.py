"""Users, sessions and API tokens: the repository functions the API and the CLI share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from vigil.api.security import (
    hash_password,
    needs_rehash,
    new_api_token,
    new_secret,
    sha256_hex,
    verify_password,
)
from vigil.errors import InputError, NotFoundError
from vigil.store.base import utcnow
from vigil.store.db import Database, rowcount
from vigil.store.models.users import ApiToken, Role, User, UserSession

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class Account:
    """A user as the API sees one (detached from any session)."""

    id: int
    username: str
    role: Role
    disabled: bool
    must_change_password: bool
    created_at: datetime
    created_by: str
    last_login_at: datetime | None
    can_unmask: bool = False  # per-user grant to reveal people on protected cameras

    @classmethod
    def of(cls, u: User) -> Account:
        return cls(
            u.id,
            u.username,
            u.role,
            u.disabled,
            u.must_change_password,
            u.created_at,
            u.created_by,
            u.last_login_at,
            bool(u.can_unmask),
        )


def check_password_rules(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 256:
        raise InputError("a password may have at most 256 characters")
    if username and password.lower() == username.lower():
        raise InputError("the password must not be the user name")


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise InputError("a user name is 1-64 letters, digits, '.', '_', '-' or '@'")
    return username


def admin_exists(db: Database) -> bool:
    with db.session() as s:
        q = select(func.count(User.id)).where(User.role == Role.admin, User.disabled.is_(False))
        return bool(s.scalar(q))


def create_user(
    db: Database,
    username: str,
    password: str,
    role: Role,
    *,
    created_by: str,
    must_change_password: bool = False,
) -> Account:
    check_username(username)
    check_password_rules(password, username)
    with db.session() as s:
        if s.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
            raise InputError(f"a user named {username!r} already exists")
        u = User(
            username=username,
            password_hash=hash_password(password),
            role=role,
            created_by=created_by,
            must_change_password=must_change_password,
        )
        s.add(u)
        s.flush()
        return Account.of(u)


def list_users(db: Database) -> list[Account]:
    with db.session() as s:
        return [Account.of(u) for u in s.scalars(select(User).order_by(User.username))]


def get_user(db: Database, user_id: int) -> Account:
    with db.session() as s:
        u = s.get(User, user_id)
        if u is None:
            raise NotFoundError(f"no user with id {user_id}")
        return Account.of(u)


def _other_admins(s, user_id: int) -> int:
    q = select(func.count(User.id)).where(
        User.role == Role.admin, User.disabled.is_(False), User.id != user_id
    )
    return int(s.scalar(q) or 0)


def update_user(
    db: Database,
    user_id: int,
    *,
    role: Role | None = None,
    disabled: bool | None = None,
    password: str | None = None,
    can_unmask: bool | None = None,
) -> Account:
    """Change role, enable/disable, the unmask grant, or set a one-time password.
    The last admin stays admin. Disabling, a role change or a new password ends the user's
    sessions; a new (one-time) password also revokes their API tokens for good: whoever held
    the old password may have made them, and re-enabling them with the next password change
    would undo the reset."""
    with db.session() as s:
        u = s.get(User, user_id)
        if u is None:
            raise NotFoundError(f"no user with id {user_id}")
        demoting = (role is not None and role != Role.admin) or disabled
        if u.role == Role.admin and demoting and _other_admins(s, u.id) == 0:
            raise InputError("this is the last admin; make another admin first")
        if role is not None:
            u.role = role
        if disabled is not None:
            u.disabled = disabled
        if can_unmask is not None:
            u.can_unmask = can_unmask
        if password is not None:
            check_password_rules(password, u.username)
            u.password_hash = hash_password(password)
            u.must_change_password = True
        if disabled or password is not None or role is not None:
            s.execute(delete(UserSession).where(UserSession.user_id == u.id))
        if password is not None:
            s.execute(delete(ApiToken).where(ApiToken.user_id == u.id))
        return Account.of(u)


def delete_user(db: Database, user_id: int) -> None:
    with db.session() as s:
        u = s.get(User, user_id)
        if u is None:
            raise NotFoundError(f"no user with id {user_id}")
        if u.role == Role.admin and _other_admins(s, u.id) == 0:
            raise InputError("this is the last admin; make another admin first")
        s.delete(u)


def authenticate(db: Database, username: str, password: str) -> Account | None:
    """The account when name and password match an enabled user, else None."""
    with db.session() as s:
        u = s.scalar(select(User).where(func.lower(User.username) == username.lower()))
        ok = verify_password(u.password_hash if u else None, password)
        if u is None or not ok or u.disabled:
            return None
        if needs_rehash(u.password_hash):
            u.password_hash = hash_password(password)
        u.last_login_at = utcnow()
        return Account.of(u)


def change_password(
    db: Database, user_id: int, current: str, new: str, keep_session_id: int | None = None
) -> int:
    """Set the user's own new password and end every other session of theirs (all of them
    when `keep_session_id` is None, as for a change made with an API token); their API
    tokens stay (they revoke those themselves). The number of sessions ended."""
    with db.session() as s:
        u = s.get(User, user_id)
        if u is None:
            raise NotFoundError("user not found")
        if not verify_password(u.password_hash, current):
            raise InputError("the current password is wrong")
        if current == new:
            raise InputError("choose a new password different from the current one")
        check_password_rules(new, u.username)
        u.password_hash = hash_password(new)
        u.must_change_password = False
        others = delete(UserSession).where(UserSession.user_id == u.id)
        if keep_session_id is not None:
            others = others.where(UserSession.id != keep_session_id)
        return rowcount(s.execute(others))


# --- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie; only its hash is stored
    csrf_token: str
    expires_at: datetime


def open_session(db: Database, user_id: int, hours: float, client: str = "") -> NewSession:
    token, csrf = new_secret(), new_secret()
    expires = utcnow() + timedelta(hours=hours)
    with db.session() as s:
        s.execute(delete(UserSession).where(UserSession.expires_at < utcnow()))
        s.add(
            UserSession(
                token_hash=sha256_hex(token),
                user_id=user_id,
                csrf_token=csrf,
                client=client[:100],
                expires_at=expires,
            )
        )
    return NewSession(token, csrf, expires)


@dataclass(frozen=True)
class SessionInfo:
    id: int
    csrf_token: str
    account: Account


def session_user(db: Database, token: str, hours: float) -> SessionInfo | None:
    """The session of a cookie token, extended (sliding expiry), or None when invalid."""
    now = utcnow()
    with db.session() as s:
        row = s.scalar(select(UserSession).where(UserSession.token_hash == sha256_hex(token)))
        if row is None or row.expires_at < now:
            return None
        u = s.get(User, row.user_id)
        if u is None or u.disabled:
            return None
        # Extend only now and then, not a write on every request.
        if row.expires_at - now < timedelta(hours=hours) * 0.9:
            row.expires_at = now + timedelta(hours=hours)
        return SessionInfo(row.id, row.csrf_token, Account.of(u))


def close_session(db: Database, session_id: int) -> None:
    with db.session() as s:
        s.execute(delete(UserSession).where(UserSession.id == session_id))


# --- API tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


def _token_info(t: ApiToken) -> TokenInfo:
    return TokenInfo(t.id, t.name, t.prefix, t.user_id, t.created_at, t.last_used_at, t.expires_at)


def create_token(
    db: Database, user_id: int, name: str, days: float | None = None
) -> tuple[str, TokenInfo]:
    """A new API token for the user: (the secret, shown once; its stored description)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InputError("a token needs a name of 1-100 characters")
    secret = new_api_token()
    with db.session() as s:
        t = ApiToken(
            name=name,
            token_hash=sha256_hex(secret),
            prefix=secret[:10],
            user_id=user_id,
            expires_at=utcnow() + timedelta(days=days) if days else None,
        )
        s.add(t)
        s.flush()
        return secret, _token_info(t)


def list_tokens(db: Database, user_id: int) -> list[TokenInfo]:
    with db.session() as s:
        rows = s.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
        return [_token_info(t) for t in rows]


def revoke_token(db: Database, token_id: int, owner_id: int | None) -> tuple[TokenInfo, str]:
    """Delete an API token for good: the owner's own (`owner_id`), or anyone's (None: an
    admin). Another user's token is 'not found' to a non-admin. (its description, its owner)"""
    with db.session() as s:
        t = s.get(ApiToken, token_id)
        if t is None or (owner_id is not None and t.user_id != owner_id):
            raise NotFoundError(f"no API token with id {token_id}")
        owner = s.get(User, t.user_id)
        info = _token_info(t)
        s.delete(t)
        return info, owner.username if owner else str(t.user_id)


def token_user(db: Database, secret: str) -> Account | None:
    now = utcnow()
    with db.session() as s:
        t = s.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(secret)))
        if t is None or (t.expires_at is not None and t.expires_at < now):
            return None
        u = s.get(User, t.user_id)
        if u is None or u.disabled:
            return None
        if t.last_used_at is None or now - t.last_used_at > timedelta(minutes=1):
            t.last_used_at = now
        return Account.of(u)
