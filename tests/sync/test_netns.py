"""Two edge sites and a hub, each in its own network namespace joined by veth pairs on a
private /24 (a bridge in the hub's namespace), so a link can really be cut (`ip link set
<veth> down`), not just a server stopped. The hub is `vigil hub` itself; each site runs its
nats-server (a leaf of the hub), the sync publisher, the notification dispatcher to its own
Mosquitto, and site A records one camera (a looped H.264 file): `tests/sync/netns_site.py`,
the parts of `vigil serve` that record and deliver (events are written by the test, not
analysed). Needs root and `ip netns`; skipped with the reason otherwise."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from vigil.config import load_config
from vigil.events.store import Routing, create_event
from vigil.notify.broker import mosquitto_path
from vigil.store.db import Database
from vigil.store.models import HubEvent
from vigil.sync.server import find_binary

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
VIGIL = str(Path(PY).parent / "vigil")
MQTT_PORT = 1883  # each site's own broker, inside its namespace
CAMERAS = ("door", "yard")


def _netns_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for ip netns"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    if find_binary() is None:
        return "nats-server binary missing"
    if mosquitto_path() is None:
        return "mosquitto is not installed"
    probe = f"vigil-probe-{secrets.token_hex(3)}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"ip netns add failed: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


_REASON = _netns_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=str(_REASON))


def sh(*args: str) -> None:
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")


@dataclass
class Proc:
    """A process started in a namespace, in its own process group (its children with it)."""

    ns: str
    argv: list[str]
    log: Path
    ready: str  # what it prints once it is up
    proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = False, timeout: float = 30) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *self.argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        out.close()
        if wait:
            self.wait_ready(self.ready, timeout)

    def wait_ready(self, ready: str, timeout: float = 30) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while ready not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise AssertionError(f"{self.argv[:3]} not ready in {self.ns}:\n{tail}")
            time.sleep(0.1)

    def kill9(self) -> None:
        """SIGKILL to the whole group: the process and the nats-server it started."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@dataclass
class Site:
    name: str
    ns: str
    veth_hub_side: str  # the link's end in the hub's namespace: set down to cut it
    config_path: Path
    db: Database
    runner: Proc
    alerts: Path  # what the site's local alarm panel received over MQTT
    routing: Routing
    made: dict[str, list[str]] = field(default_factory=dict)  # camera -> uids, in order

    def make_events(self, n: int) -> None:
        for i in range(n):
            camera = CAMERAS[i % len(CAMERAS)]
            e = create_event(
                self.db,
                camera=camera,
                kind="person",
                start=datetime.now(UTC),
                routing=self.routing,
            )
            self.made.setdefault(camera, []).append(e.uid)

    def all_made(self) -> set[str]:
        return {u for uids in self.made.values() for u in uids}


@dataclass
class Net:
    hub_ns: str
    hub: Proc
    hub_db: Database
    sites: dict[str, Site]
    procs: list[Proc]

    def cut(self, site: str) -> None:
        sh("ip", "-n", self.hub_ns, "link", "set", self.sites[site].veth_hub_side, "down")

    def restore(self, site: str) -> None:
        sh("ip", "-n", self.hub_ns, "link", "set", self.sites[site].veth_hub_side, "up")

    def at_hub(self, site: str) -> list[HubEvent]:
        with self.hub_db.session() as s:
            rows = list(s.scalars(select(HubEvent).where(HubEvent.site == site)))
            s.expunge_all()
            return rows

    def wait(self, cond: Callable[[], bool], timeout: float, what: str) -> float:
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"{what}: not within {timeout} s")
            time.sleep(0.2)
        return time.monotonic() - t0

    def check_once_in_order(self, site: str) -> None:
        """Every event made at `site` is at the hub exactly once, and per camera the hub
        received them in the order they were made."""
        s = self.sites[site]
        rows = self.at_hub(site)
        uids = [r.uid for r in rows]
        assert len(uids) == len(set(uids)) == len(s.all_made())
        assert set(uids) == s.all_made()
        for camera, made in s.made.items():
            arrived = [r.uid for r in sorted(rows, key=lambda r: r.id) if r.camera == camera]
            assert arrived == made, f"{site}/{camera}: hub order differs from the site's"


def _site_yaml(root: Path, name: str, hub_ip: str, password: str, video: Path | None) -> Path:
    doc: dict[str, object] = {
        "site": {"name": name},
        "storage": {"data_dir": str(root / name)},
        "notify": {"mqtt": {"enabled": True, "host": "127.0.0.1", "port": MQTT_PORT}},
        "sync": {
            "enabled": True,
            "site_id": name,
            "hub_url": f"nats-leaf://{hub_ip}:7422",
            "password": password,
        },
    }
    if video is not None:
        doc["cameras"] = [{"name": "door", "url": str(video), "loop": True, "segment_seconds": 2}]
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def net(tmp_path: Path, testdata: Path) -> Iterator[Net]:
    from tests.camera.conftest import make_h264

    tag = secrets.token_hex(2)
    octet = 1 + secrets.randbelow(250)
    prefix = f"10.213.{octet}"
    hub_ns = f"vigil-hub-{tag}"
    site_ns = {"a": f"vigil-a-{tag}", "b": f"vigil-b-{tag}"}
    made_ns: list[str] = []
    procs: list[Proc] = []
    dbs: list[Database] = []
    try:
        for ns in (hub_ns, *site_ns.values()):
            sh("ip", "netns", "add", ns)
            made_ns.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", hub_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub_ns, "addr", "add", f"{prefix}.1/24", "dev", "br0")
        sh("ip", "-n", hub_ns, "link", "set", "br0", "up")
        for i, (site, ns) in enumerate(site_ns.items()):
            hub_end, site_end = f"vh{tag}{site}", f"vs{tag}{site}"
            sh("ip", "link", "add", hub_end, "type", "veth", "peer", "name", site_end)
            sh("ip", "link", "set", hub_end, "netns", hub_ns)
            sh("ip", "link", "set", site_end, "netns", ns)
            sh("ip", "-n", hub_ns, "link", "set", hub_end, "master", "br0")
            sh("ip", "-n", hub_ns, "link", "set", hub_end, "up")
            sh("ip", "-n", ns, "addr", "add", f"{prefix}.{i + 2}/24", "dev", site_end)
            sh("ip", "-n", ns, "link", "set", site_end, "up")

        hub_dir = tmp_path / "hub"
        hub_yaml = tmp_path / "hub.yaml"
        site_list = ""
        for site in site_ns:
            (tmp_path / f"{site}.password").write_text(f"pw-{site}\n", encoding="utf-8")
            site_list += f"  - name: {site}\n    password_file: {tmp_path / f'{site}.password'}\n"
        hub_yaml.write_text(
            f"hub_dir: {hub_dir}\nnats:\n  host: {prefix}.1\nsites:\n{site_list}", "utf-8"
        )
        hub = Proc(
            hub_ns,
            [VIGIL, "--data-dir", str(tmp_path / "hub-cli"), "hub", "--hub-config", str(hub_yaml)],
            tmp_path / "hub.log",
            "hub retention:",
        )
        procs.append(hub)
        hub.start()  # the processes start in parallel (python imports are the slow part)
        sites: dict[str, Site] = {}
        for site, ns in site_ns.items():
            video = None
            if site == "a":
                video = make_h264(testdata / "video" / "vtest.avi", tmp_path / "door.mp4", 4)
            cfg_path = _site_yaml(tmp_path, site, f"{prefix}.1", f"pw-{site}", video)
            cfg = load_config(cfg_path)
            db = Database(cfg.storage.resolved_database_url())
            dbs.append(db)
            run = [PY, "-m", "tests.sync.netns_site"]
            broker = Proc(
                ns,
                [*run, "broker", str(MQTT_PORT), str(tmp_path / f"mqtt-{site}")],
                tmp_path / f"broker-{site}.log",
                "broker ready",
            )
            procs.append(broker)
            broker.start()
            alerts = tmp_path / f"alerts-{site}.jsonl"
            panel = Proc(
                ns,
                [*run, "listen", str(MQTT_PORT), str(alerts)],
                tmp_path / f"panel-{site}.log",
                "listener ready",
            )
            procs.append(panel)
            panel.start()
            runner = Proc(
                ns, [*run, "site", str(cfg_path)], tmp_path / f"site-{site}.log", "site ready"
            )
            procs.append(runner)
            runner.start()
            sites[site] = Site(
                site, ns, f"vh{tag}{site}", cfg_path, db, runner, alerts, Routing.from_config(cfg)
            )
        for p in procs:
            p.wait_ready(p.ready)
        hub_db = Database(f"sqlite:///{hub_dir / 'hub.db'}")  # made by the hub
        dbs.append(hub_db)
        yield Net(hub_ns, hub, hub_db, sites, procs)
    finally:
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                p.stop()
        for d in dbs:
            d.close()
        for ns in made_ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for site in site_ns:  # a veth left in this namespace by a failure half-way
            subprocess.run(["ip", "link", "del", f"vh{tag}{site}"], capture_output=True)


def _alerted(site: Site) -> set[str]:
    if not site.alerts.exists():
        return set()
    out = set()
    for line in site.alerts.read_text().splitlines():
        body = json.loads(line)["body"]
        if isinstance(body, dict) and "uid" in body:
            out.add(body["uid"])
    return out


def _segments(site: Site) -> list[object]:
    from vigil.camera.index import camera_segments

    return [seg for seg in camera_segments(site.db, "door") if seg.complete]


def test_cut_link_kill9_edge_and_hub_down(net: Net) -> None:
    a, b = net.sites["a"], net.sites["b"]
    a.make_events(4)
    b.make_events(4)
    net.wait(lambda: len(net.at_hub("a")) == 4 and len(net.at_hub("b")) == 4, 30, "first events")

    # 1. A's link is cut for a while: A's events wait at A, B's keep arriving
    net.cut("a")
    a.make_events(30)
    b.make_events(10)
    net.wait(lambda: len(net.at_hub("b")) == 14, 20, "B's events while A is cut off")
    time.sleep(2)
    assert len(net.at_hub("a")) == 4, "events crossed a link that was down"
    net.restore("a")
    waited = net.wait(lambda: len(net.at_hub("a")) == 34, 45, "A's backlog after restore")
    net.check_once_in_order("a")
    net.check_once_in_order("b")
    print(f"A's 30 events arrived {waited:.1f} s after its link came back")

    # 2. kill -9 A's edge (publisher and its nats-server) in the middle of a burst
    a.make_events(300)
    net.wait(lambda: len(net.at_hub("a")) > 34, 20, "the burst starting to arrive")
    a.runner.kill9()
    at_kill = len(net.at_hub("a"))
    a.runner.start(wait=True)
    net.wait(lambda: len(net.at_hub("a")) == 334, 45, "A's burst after kill -9 and restart")
    net.check_once_in_order("a")
    print(f"killed with {at_kill - 34}/300 of the burst at the hub")

    # 3. the hub goes down: sites keep recording, storing events and alerting locally (MQTT)
    net.hub.kill9()
    recorded = len(_segments(a))
    a.make_events(10)
    b.make_events(10)
    for s in (a, b):
        took = net.wait(lambda s=s: s.all_made() <= _alerted(s), 20, f"local alerts at {s.name}")
        print(f"local alerts at {s.name} after {took:.1f} s")
    net.wait(lambda: len(_segments(a)) >= recorded + 2, 20, "A recording while the hub is down")
    net.hub.start(wait=True)
    net.wait(
        lambda: len(net.at_hub("a")) == 344 and len(net.at_hub("b")) == 24,
        45,
        "events stored while the hub was down",
    )
    # In arrival order too: the messages the killed hub's pull request took are redelivered
    # at once when the new hub resets the consumer, not 30 s later (ack_wait) behind newer ones
    net.check_once_in_order("a")
    net.check_once_in_order("b")
