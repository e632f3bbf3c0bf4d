"""Login throttling that an attacker cannot turn against the owner, and a client address that a
header cannot forge. Served by `vigil api` itself (its uvicorn settings are under test), and
reached from several loopback addresses (127.0.0.x), since a TestClient fakes the address."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.api.helpers import PASSWORD
from vigil.api import accounts
from vigil.api.proxies import client_from
from vigil.api.security import LoginLimiter, client_bucket
from vigil.config import VigilConfig
from vigil.privacy.audit import AuditLog
from vigil.process import free_port
from vigil.store.db import Database
from vigil.store.models.users import Role

LOGIN = "/api/v1/auth/login"
WRONG = "not the password"


@dataclass
class Server:
    url: str
    db: Database
    config: VigilConfig
    data_dir: Path

    def client(self, address: str) -> httpx.Client:
        """A client whose connections come from `address` (any 127.0.0.0/8 address)."""
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.url, transport=transport, timeout=20)

    def login(self, address: str, username: str, password: str, **kw: object) -> httpx.Response:
        with self.client(address) as c:
            return c.post(LOGIN, json={"username": username, "password": password}, **kw)


@contextmanager
def vigil_api(tmp_path: Path, api: dict, users: bool = True) -> Iterator[Server]:
    """`vigil api` in a subprocess, with `api` merged into its config's api section."""
    data = tmp_path / "var"
    cfg_path = tmp_path / "vigil.yaml"
    raw = {"storage": {"data_dir": str(data)}, "api": api}
    cfg_path.write_text(yaml.safe_dump(raw))
    config = VigilConfig.model_validate(raw)
    db = Database(config.storage.resolved_database_url())
    if users:
        accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
        accounts.create_user(db, "viewer", PASSWORD, Role.viewer, created_by="test")
    port = free_port()
    cmd = [sys.executable, "-m", "vigil.cli", "-c", str(cfg_path), "api", "--no-live"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "FORWARDED_ALLOW_IPS": "*"},  # uvicorn's own trust must not apply
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "vigil api did not start"
            time.sleep(0.2)
        yield Server(url, db, config, data)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        db.close()


# --- item 4: lockout is not a denial of service ------------------------------------------


def test_wrong_passwords_from_one_address_do_not_lock_out_the_owner(tmp_path: Path) -> None:
    with vigil_api(tmp_path, {"login_attempts": 5, "login_attempts_per_user": 8}) as srv:
        for _ in range(5):
            assert srv.login("127.0.0.2", "admin", WRONG).status_code == 401
        r = srv.login("127.0.0.2", "admin", WRONG)
        assert r.status_code == 429, r.text
        assert "this user from this address" in r.json()["detail"]
        assert int(r.headers["Retry-After"]) >= 1
        # The attacker's address waits even with the right password ...
        assert srv.login("127.0.0.2", "admin", PASSWORD).status_code == 429
        # ... the owner, elsewhere, does not.
        assert srv.login("127.0.0.3", "admin", PASSWORD).status_code == 200

        # Guesses spread over many addresses: once the name has had its share, addresses that
        # failed for it wait too, and a clean address still logs in.
        for i in range(10, 20):
            srv.login(f"127.0.0.{i}", "admin", WRONG)
        r = srv.login("127.0.0.19", "admin", PASSWORD)
        assert r.status_code == 429 and "for this user;" in r.json()["detail"]
        assert int(r.headers["Retry-After"]) > 1  # grown past the first second
        assert srv.login("127.0.0.4", "admin", PASSWORD).status_code == 200
        # Other names from the attacker's address are not held by its failures for admin.
        assert srv.login("127.0.0.2", "viewer", PASSWORD).status_code == 200


def test_wrong_setup_codes_from_one_address_do_not_block_the_setup(tmp_path: Path) -> None:
    with vigil_api(tmp_path, {"login_attempts": 3}, users=False) as srv:
        code = (srv.data_dir / "setup-code").read_text().strip()
        body = {"username": "boss", "password": PASSWORD}
        with srv.client("127.0.0.2") as attacker:
            for _ in range(3):
                r = attacker.post("/api/v1/auth/setup", json={**body, "code": "wrong-code"})
                assert r.status_code == 403
            r = attacker.post("/api/v1/auth/setup", json={**body, "code": code})
            assert r.status_code == 429  # its address must wait, even with the code
        with srv.client("127.0.0.3") as owner:
            r = owner.post("/api/v1/auth/setup", json={**body, "code": code})
            assert r.status_code == 201, r.text


def test_limiter_waits_grow_and_are_forgotten() -> None:
    now = [1000.0]
    lim = LoginLimiter(per_pair=3, per_client=100, window_s=60, per_user=100, clock=lambda: now[0])
    for _ in range(3):
        assert lim.retry_after("ada", "10.0.0.1") is None
        lim.failed("ada", "10.0.0.1")
    waits = []
    for _ in range(8):
        blocked = lim.retry_after("ada", "10.0.0.1")
        assert blocked is not None
        waits.append(blocked[0])
        now[0] += blocked[0]
        assert lim.retry_after("ada", "10.0.0.1") is None
        lim.failed("ada", "10.0.0.1")
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]  # doubling, capped at the window
    assert lim.retry_after("ADA", "10.0.0.2") is None  # another client: not held
    now[0] += 60 + 60 + 1  # the last wait, then a quiet window: forgotten
    for _ in range(3):
        assert lim.retry_after("ada", "10.0.0.1") is None
        lim.failed("ada", "10.0.0.1")
    assert lim.retry_after("ada", "10.0.0.1") is not None
    lim.succeeded("ada", "10.0.0.1")  # the right password there clears its own record
    assert lim.retry_after("ada", "10.0.0.1") is None


def test_ipv6_clients_count_per_64() -> None:
    assert client_bucket("2001:db8:1:2::5") == client_bucket("2001:db8:1:2:ffff::9")
    assert client_bucket("2001:db8:1:3::5") != client_bucket("2001:db8:1:2::5")
    assert client_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_bucket("unknown") == "unknown"


# --- item 7: the client address cannot be forged -----------------------------------------


def _last_audit_source(srv: Server) -> str:
    """Where the newest audit record (a token made right after logging in) came from."""
    return AuditLog.from_config(srv.config).query(srv.db, actor="admin", limit=1)[0].source


def test_forwarded_for_is_ignored_without_trusted_proxies(tmp_path: Path) -> None:
    with vigil_api(tmp_path, {"login_attempts_per_client": 20}) as srv:
        with srv.client("127.0.0.1") as c:
            c.headers["X-Forwarded-For"] = "203.0.113.66"
            r = c.post(LOGIN, json={"username": "admin", "password": PASSWORD})
            assert r.status_code == 200
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            r = c.post("/api/v1/auth/tokens", json={"name": "audited"})
            assert r.status_code == 201
        assert _last_audit_source(srv) == "api 127.0.0.1"
        # A new forged address on every try does not escape the per-address limit.
        codes = [
            srv.login(
                "127.0.0.2",
                f"user{i}",
                WRONG,
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(30)
        ]
        assert codes[:20] == [401] * 20 and codes[20] == 429, codes
        assert codes.count(429) >= 8, codes  # the first wait is 1 s: a slow run may see a 401


def test_forwarded_for_is_read_from_a_trusted_proxy(tmp_path: Path) -> None:
    with vigil_api(tmp_path, {"trusted_proxies": ["127.0.0.1/32"]}) as srv:
        with srv.client("127.0.0.1") as proxy:
            # the client claimed the first address; the proxy added what it saw
            proxy.headers["X-Forwarded-For"] = "192.0.2.1, 203.0.113.66"
            r = proxy.post(LOGIN, json={"username": "admin", "password": PASSWORD})
            assert r.status_code == 200
            proxy.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            assert proxy.post("/api/v1/auth/tokens", json={"name": "x"}).status_code == 201
        assert _last_audit_source(srv) == "api 203.0.113.66"
        # From an address that is not a trusted proxy the header is ignored.
        with srv.client("127.0.0.2") as other:
            other.headers["X-Forwarded-For"] = "203.0.113.99"
            r = other.post(LOGIN, json={"username": "admin", "password": PASSWORD})
            other.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            assert other.post("/api/v1/auth/tokens", json={"name": "y"}).status_code == 201
        assert _last_audit_source(srv) == "api 127.0.0.2"


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "client"),
    [
        ("127.0.0.1", ["203.0.113.66"], [], "127.0.0.1"),
        ("10.0.0.2", ["203.0.113.66"], ["10.0.0.0/8"], "203.0.113.66"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.66, 10.0.0.9"], ["10.0.0.0/8"], "203.0.113.66"),
        ("10.0.0.2", ["1.1.1.1", "203.0.113.66"], ["10.0.0.0/8"], "203.0.113.66"),
        ("10.0.0.2", ["[2001:db8::1]:443"], ["10.0.0.2"], "2001:db8::1"),
        ("10.0.0.2", ["203.0.113.66:5555"], ["10.0.0.2"], "203.0.113.66"),
        ("10.0.0.2", ["evil, 10.0.0.3"], ["10.0.0.0/8"], "10.0.0.3"),
        ("10.0.0.2", [], ["10.0.0.0/8"], "10.0.0.2"),
        ("192.0.2.7", ["203.0.113.66"], ["10.0.0.0/8"], "192.0.2.7"),
        ("::ffff:10.0.0.2", ["203.0.113.66"], ["10.0.0.0/8"], "203.0.113.66"),
        (None, ["203.0.113.66"], ["10.0.0.0/8"], "unknown"),
    ],
)
def test_client_from(peer: str | None, header: list[str], trusted: list[str], client: str) -> None:
    assert client_from(peer, header, trusted) == client


def test_trusted_proxies_must_be_addresses() -> None:
    from pydantic import ValidationError

    VigilConfig.model_validate({"api": {"trusted_proxies": ["10.0.0.0/8", "::1", "192.0.2.1"]}})
    with pytest.raises(ValidationError, match="not an IP address"):
        VigilConfig.model_validate({"api": {"trusted_proxies": ["proxy.local"]}})
