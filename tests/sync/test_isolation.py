"""Sites are isolated by NATS accounts at the hub (real nats-servers on 127.0.0.1).

Whoever holds site north's leaf credentials (here: any client of north's own nats-server,
which logs into the hub as north) sees nothing of south: not its events, not its JetStream
API, not its command subjects. The hub still ingests both sites and can still send a command
to each, through that site's account (`connect_site`).
"""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import ServiceUnavailableError

from vigil.hub.ingest import HubConsumer
from vigil.process import free_port
from vigil.sync.edge import EdgePublisher
from vigil.sync.server import HubAccess, NatsServer, ServerSpec, connect_site, find_binary

from .test_sync import Net, await_for, net  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
UNREACHABLE = (NoRespondersError, ServiceUnavailableError, NatsTimeout, TimeoutError)


async def _unreachable(nc: nats.NATS, subject: str) -> bool:
    try:
        await nc.request(subject, b"{}", timeout=1.0)
    except UNREACHABLE:
        return True
    return False


def test_site_cannot_read_another_site(net: Net) -> None:  # noqa: F811
    async def scenario() -> None:
        seen: list[tuple[str, bytes]] = []
        spy = await nats.connect(net.edges["north"].url)  # holds north's credentials

        async def record(msg: nats.aio.msg.Msg) -> None:
            seen.append((msg.subject, msg.data))

        await spy.subscribe(">", cb=record)
        await spy.subscribe("_INBOX.>", cb=record)

        # south answers commands on its own server
        south = await nats.connect(net.edges["south"].url)

        async def answer(msg: nats.aio.msg.Msg) -> None:
            await msg.respond(json.dumps({"site": "south", "verb": msg.subject}).encode())

        await south.subscribe("vigil.south.cmd.*", cb=answer)
        await south.flush()

        pubs = {s: EdgePublisher(net.dbs[s], s, net.edges[s].url) for s in ("north", "south")}
        for p in pubs.values():
            await p.connect()
        hub = HubConsumer(net.hub_db, net.hub.access, ["north", "south"])
        task = asyncio.create_task(hub.run())
        hub_north = await connect_site(net.hub.access, "north")
        hub_south = await connect_site(net.hub.access, "south")
        try:
            net.make_events("north", 20)
            net.make_events("south", 30)
            for p in pubs.values():
                await p.publish_pending()
            await await_for(lambda: net.hub_count() == 50, 20)  # the hub ingests both
            net.check_hub()

            # hub -> site commands work, each through its site's account
            reply = await hub_south.request("vigil.south.cmd.ping", b"{}", timeout=3)
            assert json.loads(reply.data)["site"] == "south"
            # nothing of south's traffic (events pulled by the hub, its command) reached
            # north's side; the spy does see north's own traffic, so it was listening
            await spy.flush()
            assert any(s.startswith("$JS.ACK.EVENTS.hub") for s, _ in seen)  # the hub's acks
            leaked = [(s, d[:80]) for s, d in seen if "south" in s or b"south" in d]
            assert not leaked, leaked[:3]

            # north's credentials reach nothing of south
            assert await _unreachable(spy, "vigil.south.cmd.ping")
            assert await _unreachable(spy, "$JS.south.API.STREAM.INFO.EVENTS")
            with pytest.raises(UNREACHABLE):
                await spy.jetstream(domain="south", timeout=1).stream_info("EVENTS")
            # nor the hub's own JetStream (a site cannot store anything at the hub)
            with pytest.raises(UNREACHABLE):
                await spy.jetstream(domain="hub", timeout=1).account_info()
            # ... nor does the hub's login into north's account
            assert await _unreachable(hub_north, "vigil.south.cmd.ping")
            with pytest.raises(UNREACHABLE):
                await hub_north.jetstream(domain="south", timeout=1).stream_info("EVENTS")
            # while the hub's south login does reach south's stream
            info = await hub_south.jetstream(domain="south").stream_info("EVENTS")
            assert info.state.last_seq == 30  # all taken by the hub (a work queue): none left
        finally:
            hub.stop()
            await asyncio.wait_for(task, 10)
            for nc in (spy, south, hub_north, hub_south):
                await nc.close()
            for p in pubs.values():
                await p.close()

    asyncio.run(scenario())


def test_hub_refuses_unknown_logins(net: Net) -> None:  # noqa: F811
    """No anonymous clients at the hub, no hub login without the secret, and a leaf node
    presenting south's name with north's password is not admitted."""

    async def scenario() -> None:
        for kwargs in ({}, {"user": "hub-south", "password": "wrong"}):
            with pytest.raises(nats.errors.Error, match="Authorization"):
                await nats.connect(
                    net.hub.url, allow_reconnect=False, max_reconnect_attempts=0, **kwargs
                )
        with pytest.raises(nats.errors.Error, match="Authorization"):
            await connect_site(
                HubAccess(net.hub.url, "not-the-secret"),
                "south",
                allow_reconnect=False,
                max_reconnect_attempts=0,
            )

    asyncio.run(scenario())
    leaf = net.hub.spec.leaf_port
    impostor = NatsServer(
        ServerSpec(
            "impostor",
            net.root / "impostor-js",
            free_port(),
            free_port(),
            "south",
            hub_url=f"nats-leaf://south:pw-north@127.0.0.1:{leaf}",
        ),
        net.root,
    )
    impostor.start()
    try:
        asyncio.run(asyncio.sleep(1.5))
        assert net.hub.leafnodes() == 2  # north and south only
    finally:
        impostor.stop()
