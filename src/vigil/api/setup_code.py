"""The first-run set-up code: who may create the first admin.

While no admin exists, `POST /api/v1/auth/setup` needs a one-time code that `vigil serve`
(and `vigil api`) print to their console and write to `<data_dir>/setup-code` (mode 0600):
reaching the server is not enough to take it over. Only the code's SHA-256 is kept, in this
process's memory; a restart issues a new code (the file is rewritten), so no table is needed.
The code is spent by the set-up that uses it and expires as soon as any admin exists (also
one made with `vigil users create-admin`).
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from vigil.api import accounts
from vigil.api.security import one_time_password, sha256_hex
from vigil.files import write_atomic
from vigil.store.db import Database

FILE_NAME = "setup-code"


class SetupCode:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self._hash: str | None = None
        self.lock = threading.Lock()  # one set-up at a time: check, create admin, spend

    @property
    def active(self) -> bool:
        return self._hash is not None

    def issue(self) -> str:
        """A new code (the previous one stops working), also written to the 0600 file."""
        code = one_time_password()
        self._hash = sha256_hex(code)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, (code + "\n").encode(), 0o600)
        return code

    def offer(self, db: Database) -> str | None:
        """At start: a new code while no admin exists (to print), else None (and no file)."""
        if accounts.admin_exists(db):
            self.expire()
            return None
        return self.issue()

    def matches(self, code: str) -> bool:
        """True when `code` is the live code (compared in constant time)."""
        expected = self._hash
        if expected is None or not code:
            return False
        return secrets.compare_digest(sha256_hex(code.strip()), expected)

    def expire(self) -> None:
        self._hash = None
        self.path.unlink(missing_ok=True)
