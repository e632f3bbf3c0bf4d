"""The hub starts from `HubNode` and its `hub.yaml`: site passwords from a file or an
environment variable (never on a command line), events pulled from a site, the web API up,
everything stopped by `stop()` or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from vigil.errors import ConfigError
from vigil.events.store import create_event
from vigil.hub.config import HubConfig, load_hub_config
from vigil.hub.node import HubNode
from vigil.process import free_port
from vigil.store.db import Database
from vigil.store.models import HubEvent
from vigil.sync.edge import EdgePublisher
from vigil.sync.server import NatsServer, ServerSpec, find_binary

from ..sync.test_sync import wait_for

needs_nats = pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
VIGIL = str(Path(sys.executable).parent / "vigil")
NORTH_PW = "north-Pw-7f3a"  # in a file
SOUTH_PW = "south-Pw-91c2"  # in an environment variable


def _hub_yaml(tmp_path: Path, *, web: bool = False) -> tuple[Path, dict[str, int]]:
    ports = {k: free_port() for k in ("port", "http_port", "leaf_port", "web")}
    pw = tmp_path / "secrets" / "north.password"
    pw.parent.mkdir()
    pw.write_text(NORTH_PW + "\n", encoding="utf-8")
    pw.chmod(0o600)
    path = tmp_path / "hub.yaml"
    path.write_text(
        f"""hub_dir: {tmp_path / "hub"}
sites:
  - name: north
    password_file: {pw}
  - name: south
    password_env: TEST_HUB_SOUTH_PASSWORD
nats:
  port: {ports["port"]}
  http_port: {ports["http_port"]}
  leaf_port: {ports["leaf_port"]}
web: {str(web).lower()}
api:
  port: {ports["web"]}
retention:
  event_days: 10
""",
        encoding="utf-8",
    )
    return path, ports


def _site_server(tmp_path: Path, site: str, password: str, leaf_port: int) -> NatsServer:
    return NatsServer(
        ServerSpec(
            site,
            tmp_path / f"{site}-js",
            free_port(),
            free_port(),
            site,
            hub_url=f"nats-leaf://{site}:{password}@127.0.0.1:{leaf_port}",
        ),
        tmp_path / site,
    )


def test_config_reads_passwords_from_files_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _hub_yaml(tmp_path)
    monkeypatch.setenv("TEST_HUB_SOUTH_PASSWORD", SOUTH_PW)
    cfg = load_hub_config(path)
    assert [s.password() for s in cfg.sites] == [NORTH_PW, SOUTH_PW]
    assert cfg.retention.event_days == 10 and cfg.retention.audit_days == 365
    monkeypatch.delenv("TEST_HUB_SOUTH_PASSWORD")
    with pytest.raises(ConfigError, match="site south: no password"):
        cfg.sites[1].password()
    (tmp_path / "secrets" / "north.password").unlink()
    with pytest.raises(ConfigError, match="site north: cannot read"):
        cfg.sites[0].password()
    # a password is never a field of its own; one source per site; unknown keys have a line
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites:\n  - name: a\n    password: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 3: sites\[0\]\.password"):
        load_hub_config(bad)
    bad.write_text("sites:\n  - name: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="exactly one of password_file, password_env"):
        load_hub_config(bad)
    assert HubConfig().sites == [] and HubConfig().hub_dir == Path("var-hub")


def test_a_hub_without_sites_does_not_start(tmp_path: Path) -> None:
    node = HubNode(HubConfig(hub_dir=tmp_path / "hub"))
    with pytest.raises(ConfigError, match="at least one site"):
        node.start()
    assert node.server is None and node.db is None


@needs_nats
def test_hub_node_from_hub_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, ports = _hub_yaml(tmp_path, web=True)
    monkeypatch.setenv("TEST_HUB_SOUTH_PASSWORD", SOUTH_PW)
    node = HubNode(load_hub_config(path))
    node.start()
    sites = {
        "north": _site_server(tmp_path, "north", NORTH_PW, ports["leaf_port"]),
        "south": _site_server(tmp_path, "south", SOUTH_PW, ports["leaf_port"]),
    }
    runner = threading.Thread(target=lambda: asyncio.run(node.run()), daemon=True)
    runner.start()
    site_db = Database(f"sqlite:///{tmp_path / 'north' / 'vigil.db'}")
    try:
        for s in sites.values():
            s.start()
        assert node.server is not None and node.db is not None
        server, hub_db = node.server, node.db
        wait_for(lambda: server.leafnodes() == 2, 15)  # both passwords let their site in
        create_event(site_db, camera="gate", kind="person", start=datetime.now(UTC))

        async def publish() -> None:
            pub = EdgePublisher(site_db, "north", sites["north"].url)
            await pub.connect()
            try:
                await pub.publish_pending()
            finally:
                await pub.close()

        asyncio.run(publish())

        def stored() -> int:
            with hub_db.session() as s:
                return int(s.scalar(select(func.count()).select_from(HubEvent)) or 0)

        wait_for(lambda: stored() == 1, 15)
        assert stored() == 1
        with pytest.raises(urllib.error.HTTPError) as e:  # the web API is up, and asks a login
            urllib.request.urlopen(f"http://127.0.0.1:{ports['web']}/api/v1/hub/sites", timeout=5)
        assert e.value.code == 401
    finally:
        node.stop()
        runner.join(15)
        alive = runner.is_alive()
        node.close()
        for s in sites.values():
            s.stop()
        site_db.close()
    assert not alive and node.server is None


def _cmdlines(pid: int) -> list[str]:
    """The command lines of `pid` and of all its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            out.append(Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return out


@needs_nats
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_vigil_hub_keeps_passwords_off_the_command_line(tmp_path: Path) -> None:
    path, ports = _hub_yaml(tmp_path)
    log = tmp_path / "hub.log"
    env = {**os.environ, "TEST_HUB_SOUTH_PASSWORD": SOUTH_PW}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [VIGIL, "--data-dir", str(tmp_path / "cli"), "hub", "--hub-config", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while "hub retention:" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        lines = _cmdlines(proc.pid)
        assert len(lines) >= 2 and any("nats-server" in c for c in lines)  # hub and its server
        for line in lines:
            assert NORTH_PW not in line and SOUTH_PW not in line, line
        conf = tmp_path / "hub" / "hub.conf"  # nats-server reads them from its file
        assert NORTH_PW in conf.read_text() and conf.stat().st_mode & 0o077 == 0
        site = _site_server(tmp_path, "north", NORTH_PW, ports["leaf_port"])
        site.start()  # the password from the file lets the site in

        def linked() -> bool:
            url = f"http://127.0.0.1:{ports['http_port']}/leafz"
            with urllib.request.urlopen(url, timeout=2) as r:
                return b"SITE_north" in r.read()

        try:
            wait_for(linked, 15)
        finally:
            site.stop()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    assert rc == 0, log.read_text()
    assert "stored 0 events" in log.read_text()


def test_the_operator_guides_hub_yaml_checks() -> None:
    guide = Path(__file__).resolve().parents[2] / "docs" / "operator-guide.md"
    text = guide.read_text(encoding="utf-8").split("## Sending events to a hub", 1)[1]
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = HubConfig.model_validate(yaml.safe_load(example))
    assert cfg.site_names == ["riverside", "harbour"] and cfg.web and cfg.postgres
