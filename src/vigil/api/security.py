"""Password hashing, random secrets and the login rate limiter."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so timing does not reveal valid user names.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

TOKEN_PREFIX = "vgl_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def one_time_password() -> str:
    """Readable, 4 groups of 5 characters from an alphabet without look-alikes (~100 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def sha256_hex(secret: str) -> str:
    """Session and API tokens are long random strings, so a plain SHA-256 is enough at rest."""
    return hashlib.sha256(secret.encode()).hexdigest()


class LoginLimiter:
    """Counts failed logins per user name and per client address in a sliding window."""

    def __init__(self, per_user: int, per_client: int, window_s: float) -> None:
        self.per_user = per_user
        self.per_client = per_client
        self.window_s = window_s
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def retry_after(self, username: str, client: str) -> tuple[float, str] | None:
        """(seconds to wait, what is blocked) when a login must be refused now, else None."""
        now = time.monotonic()
        with self._lock:
            for key, limit, what in (
                ("u:" + username.lower(), self.per_user, "this user"),
                ("c:" + client, self.per_client, "this address"),
            ):
                q = self._recent(key, now)
                if len(q) >= limit:
                    return max(1.0, self.window_s - (now - q[0])), what
        return None

    def failed(self, username: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent("u:" + username.lower(), now).append(now)
            self._recent("c:" + client, now).append(now)
            if len(self._fails) > 100_000:  # bounded memory under a spray of names
                self._fails = {k: v for k, v in self._fails.items() if v}

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._fails.pop("u:" + username.lower(), None)
