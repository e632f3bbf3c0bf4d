"""Password hashing, random secrets and the login rate limiter."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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
    """Failed logins throttled per (user name, client), per client, and per user name.

    - One user name from one client: `per_pair` failures are free, then each further failure
      doubles the wait before the next try from there (1 s, 2 s, 4 s, ... up to `window_s`).
    - One client, any user names: after `per_client` failures it waits the same way.
    - One user name, every client: after `per_user` failures, clients that have themselves
      failed for that name wait too (growing likewise), but a client that has not failed for
      it is never refused: someone guessing from other addresses cannot lock the owner out.

    A record is forgotten `window_s` after its wait ends without a new failure. Clients are
    the address `client_address` decided (IPv6 counted per /64, which one host usually holds).
    """

    def __init__(
        self,
        per_pair: int,
        per_client: int,
        window_s: float,
        per_user: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_pair = per_pair
        self.per_client = per_client
        self.per_user = per_user if per_user is not None else per_client
        self.window_s = window_s
        self.clock = clock
        self._records: dict[tuple[str, ...], _Fails] = {}
        self._lock = threading.Lock()

    def _get(self, key: tuple[str, ...], now: float) -> _Fails | None:
        rec = self._records.get(key)
        if rec is not None and now > rec.until + self.window_s:
            del self._records[key]
            return None
        return rec

    def _keys(self, username: str, client: str) -> tuple[tuple[str, ...], ...]:
        name, where = username.lower(), client_bucket(client)
        return ("pair", name, where), ("client", where), ("user", name)

    def retry_after(self, username: str, client: str) -> tuple[float, str] | None:
        """(seconds to wait, what is blocked) when a login must be refused now, else None."""
        now = self.clock()
        pair_key, client_key, user_key = self._keys(username, client)
        with self._lock:
            pair = self._get(pair_key, now)
            checks = [
                (pair, "this user from this address"),
                (self._get(client_key, now), "this address"),
            ]
            if pair is not None:  # the name-wide wait holds only clients that failed for it
                checks.append((self._get(user_key, now), "this user"))
            for rec, what in checks:
                if rec is not None and rec.until > now:
                    return max(1.0, rec.until - now), what
        return None

    def failed(self, username: str, client: str) -> None:
        now = self.clock()
        with self._lock:
            for key, free in zip(
                self._keys(username, client),
                (self.per_pair, self.per_client, self.per_user),
                strict=True,
            ):
                rec = self._get(key, now) or self._records.setdefault(key, _Fails())
                rec.count += 1
                if rec.count >= free:
                    wait = min(self.window_s, 2.0 ** (rec.count - free))
                    rec.until = max(rec.until, now + wait)
                else:
                    rec.until = max(rec.until, now)
            if len(self._records) > 100_000:  # bounded memory under a spray of names
                self._records = {
                    k: r for k, r in self._records.items() if now <= r.until + self.window_s
                }

    def succeeded(self, username: str, client: str) -> None:
        """The right password from `client`: its own failures for the name are forgotten (not
        the name-wide count, which others' guesses made)."""
        with self._lock:
            self._records.pop(self._keys(username, client)[0], None)


@dataclass
class _Fails:
    count: int = 0
    until: float = 0.0  # monotonic time before which the next try is refused


def client_bucket(client: str) -> str:
    """The unit a client is counted in: an IPv4 address, an IPv6 /64, or the text as given."""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
