"""The hub's gallery: enrol at the hub, push to the sites a watchlist names (real nats-servers,
each site answering commands through `vigil.sync.commands`), removal everywhere, and search
by photo across sites with pgvector HNSW on embedded PostgreSQL (pgserver)."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text

from tests.api.helpers import PASSWORD, Client
from vigil.api import accounts
from vigil.config import VigilConfig
from vigil.events.store import create_event
from vigil.faces.calibration import Calibration
from vigil.faces.gallery import Gallery
from vigil.hub.actor import Actor
from vigil.hub.app import create_hub_app
from vigil.hub.config import HubConfig
from vigil.hub.context import HubContext, create_hub_context
from vigil.hub.gallery import (
    TemplateIn,
    create_watchlist,
    enrol,
    list_people,
    remove_person,
    set_member,
    update_watchlist,
)
from vigil.hub.ingest import HubConsumer
from vigil.hub.placement import note_site_audit, person_placements
from vigil.hub.pusher import HubPusher, pending_pushes
from vigil.hub.search import search_across_sites
from vigil.privacy.audit import Action, AuditLog, ReasonRequired
from vigil.store.db import Database
from vigil.store.models import AuditRecord, Event, Person, Template, Watchlist
from vigil.store.models.events import WatchAction
from vigil.store.models.faces import LegalBasis
from vigil.store.models.hub import HubAuditRecord, HubEvent, HubPlacement
from vigil.store.models.users import Role
from vigil.sync.edge_agent import EdgeSync
from vigil.sync.server import connect_site, find_binary

from ..sync.test_sync import Net, await_for, net  # noqa: F401  (fixture)

MODEL = "sface-test"
CAL = Calibration.default(MODEL)
ADMIN = Actor("admin-ann")


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def template(vec: np.ndarray, tag: str) -> TemplateIn:
    return TemplateIn(vec, tag.ljust(64, "0")[:64], 0.9, MODEL)


def audit_rows(db: Database) -> list[AuditRecord]:
    with db.session() as s:
        return list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


# --- search by photo (PostgreSQL + pgvector) ---


def _fill(db: Database, rng: np.random.Generator, people: int, per: int) -> np.ndarray:
    """`people` hub people with `per` templates each around their own centre; returns centres."""
    centres = unit(rng.normal(size=(people, 128)))
    with db.session() as s:
        for i, c in enumerate(centres):
            pid = s.execute(
                text(
                    "INSERT INTO hub_people (uid, name, legal_basis, legal_basis_note, "
                    "enrolled_by, enrolled_at) VALUES (:u, :n, 'consent', '', 'fill', now()) "
                    "RETURNING id"
                ),
                {"u": str(uuid.uuid4()), "n": f"filler {i}"},
            ).scalar_one()
            vecs = unit(c + rng.normal(scale=0.04, size=(per, 128)))
            s.execute(
                text(
                    "INSERT INTO hub_templates (person_id, embedding, model, image_sha256, "
                    "quality, enrolled_at, vec) VALUES "
                    "(:p, :e, :m, :h, 0.9, now(), CAST(:v AS vector))"
                ),
                [
                    {"p": pid, "e": v.tobytes(), "m": MODEL, "h": f"{i}-{k}", "v": str(v.tolist())}
                    for k, v in enumerate(vecs)
                ],
            )
    return centres


def test_search_across_sites_with_hnsw() -> None:
    pytest.importorskip("pgserver")
    from vigil.hub.pg import embedded_postgres_url

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="pg", dir="/tmp") as tmp:
        db = Database(embedded_postgres_url(Path(tmp) / "pg"))
        audit = AuditLog(Path(tmp) / "keys")
        try:
            _fill(db, rng, people=400, per=8)  # 3,200 templates
            dana = unit(rng.normal(size=128))
            uid, added = enrol(
                db,
                audit,
                ADMIN,
                "Dana",
                [
                    template(unit(dana + rng.normal(scale=0.04, size=128)), f"d{k}")
                    for k in range(3)
                ],
                legal_basis=LegalBasis.consent,
                reason="contractor badge",
            )
            assert added == 3
            with db.session() as s:
                now = datetime.now(UTC)
                for i, (site, who) in enumerate(
                    [("north", uid), ("south", uid), ("south", None), ("north", uid)]
                ):
                    s.add(
                        HubEvent(
                            uid=str(uuid.uuid4()),
                            site=site,
                            edge_id=i,
                            camera="gate",
                            kind="known_person" if who else "person",
                            start=now,
                            person_uid=who,
                        )
                    )
                # the planner uses the HNSW index for the nearest-template query
                s.execute(text("SET LOCAL enable_seqscan = off"))
                plan = "\n".join(
                    s.execute(
                        text(
                            "EXPLAIN SELECT person_id FROM hub_templates "
                            "ORDER BY vec <=> CAST(:q AS vector) LIMIT 10"
                        ),
                        {"q": str(dana.tolist())},
                    ).scalars()
                )
            assert "ix_hub_templates_vec" in plan, plan

            probe = unit(dana + rng.normal(scale=0.05, size=128))
            result = search_across_sites(
                db, probe, who=ADMIN, reason="incident 2026-17", audit=audit, calibration=CAL
            )
            assert result.method == "hnsw"
            assert (result.match.name, result.match.person_uid) == ("Dana", uid)
            assert len(result.events) == 3
            assert {e.site for e in result.events} == {"north", "south"}

            stranger = search_across_sites(
                db,
                unit(rng.normal(size=128)),
                who=ADMIN,
                reason="incident 2026-17",
                audit=audit,
                calibration=CAL,
            )
            assert stranger.match.person_uid is None and stranger.match.name is None
            assert stranger.events == []

            before = len(audit_rows(db))
            with pytest.raises(ReasonRequired):
                search_across_sites(db, probe, who=ADMIN, reason="  ", audit=audit, calibration=CAL)
            rows = audit_rows(db)
            assert len(rows) == before  # refused before searching: nothing recorded
            searches = [r for r in rows if r.action == "search_face"]
            assert [r.reason for r in searches] == ["incident 2026-17"] * 2
            assert searches[0].target_id == uid and searches[0].details["events"] == 3
        finally:
            db.close()


# --- push to sites (real nats-servers) ---


def _edge_sync(net: Net, site: str) -> EdgeSync:  # noqa: F811
    """What `vigil serve` runs at a site: publishes its events, answers the hub's commands
    (`vigil.<site>.cmd.>`) through `vigil.sync.commands`; here on the site's running server."""
    cfg = VigilConfig.model_validate(
        {
            "sync": {
                "enabled": True,
                "site_id": site,
                "run_server": False,
                "port": net.edges[site].spec.port,
            }
        }
    )
    agent = EdgeSync(cfg, net.dbs[site], net.root / site, poll_s=0.2)
    agent.start()
    assert agent.connected.wait(10)
    return agent


def _site_state(db: Database) -> dict[str, object]:
    with db.session() as s:
        people = {p.name: p for p in s.scalars(select(Person))}
        return {
            "people": {n: (p.hub_uid, len(p.templates)) for n, p in people.items()},
            "watchlists": {
                w.name: sorted(m.person_id for m in w.members) for w in s.scalars(select(Watchlist))
            },
        }


async def _push_until_done(pusher: HubPusher, db: Database, timeout: float = 20) -> None:
    async def done() -> bool:
        await pusher.push_once()
        return not pending_pushes(db)

    t0 = asyncio.get_running_loop().time()
    while not await done():
        if asyncio.get_running_loop().time() - t0 > timeout:
            raise AssertionError(f"pushes left: {pending_pushes(db)}")
        await asyncio.sleep(0.2)


@pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
def test_push_to_named_sites_offline_site_and_removal(net: Net) -> None:  # noqa: F811
    hub_db, north, south = net.hub_db, net.dbs["north"], net.dbs["south"]
    audit = AuditLog(net.root / "hub")
    rng = np.random.default_rng(3)
    alice_vec = unit(rng.normal(size=128))
    # a person enrolled at north itself: the hub must never touch her
    with north.session() as s:
        carol = Person(name="Carol", created_by="north-admin")
        carol.templates.append(
            Template(
                embedding=unit(rng.normal(size=128)).tobytes(),
                model=MODEL,
                image_sha256="c" * 64,
                quality=0.8,
                legal_basis=LegalBasis.consent,
                enrolled_by="north-admin",
            )
        )
        s.add(carol)

    async def scenario() -> None:
        agents = {s: _edge_sync(net, s) for s in ("north", "south")}
        consumer = HubConsumer(hub_db, net.hub.access, ["north"])
        task = asyncio.create_task(consumer.run())
        pusher = HubPusher(hub_db, lambda site: connect_site(net.hub.access, site), timeout_s=3)
        try:
            alice_uid, _ = enrol(
                hub_db,
                audit,
                ADMIN,
                "Alice",
                [template(alice_vec, "a1")],
                legal_basis=LegalBasis.legitimate_interest,
                legal_basis_note="site security, balancing test 4",
                reason="security staff",
            )
            assert not pending_pushes(hub_db)  # on no watchlist: sent nowhere
            create_watchlist(
                hub_db, audit, ADMIN, "staff", action=WatchAction.alert, sites=["north"]
            )
            set_member(hub_db, audit, ADMIN, "staff", "Alice", member=True)
            await _push_until_done(pusher, hub_db)

            n = _site_state(north)
            assert n["people"] == {"Carol": (None, 1), "Alice": (alice_uid, 1)}
            assert list(n["watchlists"]) == ["staff"]  # type: ignore[call-overload]
            assert _site_state(south) == {"people": {}, "watchlists": {}}
            with north.session() as s:
                alice = s.scalar(select(Person).where(Person.hub_uid == alice_uid))
                assert alice is not None
                t = alice.templates[0]
                assert t.legal_basis is LegalBasis.legitimate_interest
                assert t.legal_basis_note == "site security, balancing test 4"
                assert np.allclose(np.frombuffer(t.embedding, np.float32), alice_vec)
                alice_id = alice.id
            audit_n = [(r.actor, r.action) for r in audit_rows(north)]
            assert ("hub:admin-ann", "enroll") in audit_n
            assert ("hub:admin-ann", "change_watchlist") in audit_n

            # north sees Alice: the event reaches the hub tied to the hub's person
            create_event(
                north,
                camera="gate",
                kind="known_person",
                start=datetime.now(UTC),
                person_id=alice_id,
                score=0.8,
                details={"person": "Alice"},
            )
            agents["north"].wake()
            await await_for(lambda: net.hub_count() == 1, 20)
            with hub_db.session() as s:
                assert s.scalar(select(HubEvent.person_uid)) == alice_uid

            # south is offline when the watchlist starts naming it; it gets Alice when back
            net.edges["south"].stop()
            update_watchlist(hub_db, audit, ADMIN, "staff", add_sites=["south"])
            round_ = await pusher.push_once()
            assert "south" in round_.unreachable
            waiting = pending_pushes(hub_db)
            assert {(p.site, p.verb) for p in waiting} == {
                ("south", "person.put"),
                ("south", "watchlist.put"),
            }
            assert all("unreachable" in p.last_error for p in waiting)
            net.edges["south"].start()
            await _push_until_done(pusher, hub_db, timeout=30)
            assert _site_state(south)["people"] == {"Alice": (alice_uid, 1)}

            # a hub person with a site-local person's name is refused there, Carol untouched
            enrol(
                hub_db,
                audit,
                ADMIN,
                "Carol",
                [template(unit(rng.normal(size=128)), "c2")],
                legal_basis=LegalBasis.consent,
                reason="visitor",
            )
            set_member(hub_db, audit, ADMIN, "staff", "Carol", member=True)
            await pusher.push_once()
            refused = [p for p in pending_pushes(hub_db) if p.site == "north"]
            assert [p.verb for p in refused] == ["person.put"]
            assert "own person named 'Carol'" in refused[0].last_error
            assert _site_state(north)["people"]["Carol"] == (None, 1)  # type: ignore[index]
            assert "Carol" in _site_state(south)["people"]  # type: ignore[operator]
            set_member(hub_db, audit, ADMIN, "staff", "Carol", member=False)

            # removal at the hub: gone from every site, with its identity on past events
            remove_person(hub_db, audit, ADMIN, "Alice", reason="left the company")
            await _push_until_done(pusher, hub_db)
            assert _site_state(north)["people"] == {"Carol": (None, 1)}
            assert _site_state(south)["people"] == {}
            with north.session() as s:
                assert (
                    s.scalar(select(Template).where(Template.image_sha256 == "a1".ljust(64, "0")))
                    is None
                )
                ev = s.scalar(select(Event))
                assert ev is not None
                assert ev.person_id is None and ev.kind == "face"
                assert "person" not in ev.details
            with hub_db.session() as s:
                assert s.scalar(select(HubEvent.person_uid)) is None
            for site_db in (north, south):
                removed = [
                    r
                    for r in audit_rows(site_db)
                    if r.action == "remove_person" and r.target_id == alice_uid
                ]
                assert [(r.actor, r.reason) for r in removed] == [
                    ("hub:admin-ann", "left the company")
                ]
            hub_actions = [r.action for r in audit_rows(hub_db)]
            assert hub_actions.count("enroll") == 2 and "remove_person" in hub_actions
            await await_for(lambda: agents["south"].commands >= 4, 5)  # put x2, remove x2
        finally:
            consumer.stop()
            await asyncio.wait_for(task, 10)
            await pusher.close()
            for agent in agents.values():
                await asyncio.to_thread(agent.stop)

    asyncio.run(scenario())


@pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
def test_site_audit_says_why_and_local_deletion_reaches_hub(net: Net) -> None:  # noqa: F811
    hub_db, north = net.hub_db, net.dbs["north"]
    audit = AuditLog(net.root / "hub")
    ops = Actor("ops-olga")
    rng = np.random.default_rng(5)

    async def scenario() -> None:
        agent = _edge_sync(net, "north")
        consumer = HubConsumer(hub_db, net.hub.access, ["north"])
        task = asyncio.create_task(consumer.run())
        pusher = HubPusher(hub_db, lambda site: connect_site(net.hub.access, site), timeout_s=3)
        try:
            bea_uid, _ = enrol(
                hub_db,
                audit,
                ADMIN,
                "Bea",
                [template(unit(rng.normal(size=128)), "b1")],
                legal_basis=LegalBasis.legitimate_interest,
                legal_basis_note="theft at gate 2, DPIA 11",
                reason="banned after theft, case 88",
            )
            create_watchlist(
                hub_db, audit, ops, "banned", action=WatchAction.alert, sites=["north"]
            )
            set_member(hub_db, audit, ops, "banned", "Bea", member=True)
            await _push_until_done(pusher, hub_db)

            # the site's own record of the push: by whom, why, under which legal basis
            (put,) = [r for r in audit_rows(north) if r.target_id == bea_uid]
            assert (put.action, put.actor, put.source) == ("enroll", "hub:ops-olga", "hub")
            assert put.reason == "banned after theft, case 88"
            assert put.details["requested_by"] == "admin-ann"
            assert put.details["legal_basis"] == "legitimate_interest"
            assert put.details["legal_basis_note"] == "theft at gate 2, DPIA 11"
            assert put.details["via"] == "hub push"
            (placed,) = person_placements(hub_db, bea_uid)
            assert (placed.site, placed.state) == ("north", "held")

            # an operator at north deletes her there (as `vigil faces remove` does)
            log = AuditLog(net.root / "north")

            def hook(s, person_id: int, n: int) -> None:  # type: ignore[no-untyped-def]
                log.record(
                    s,
                    actor="north-op",
                    action=Action.remove_person,
                    source="cli",
                    reason="erasure request 7",
                    person=person_id,
                    details={"templates": n},
                )

            assert Gallery(north, MODEL).remove("Bea", audit=hook) == 1
            agent.wake()

            def removed() -> bool:
                (p,) = list_people(hub_db)
                return p.sites == [] and p.removed_at_sites == ["north"]

            await await_for(removed, 20)
            (gone,) = person_placements(hub_db, bea_uid)
            assert (gone.state, gone.removed_by, gone.removed_reason) == (
                "removed_by_site",
                "north-op",
                "erasure request 7",
            )
            # not pushed back by the next change at the hub, nor removed again
            update_watchlist(hub_db, audit, ops, "banned", action=WatchAction.notify)
            assert [(p.site, p.verb) for p in pending_pushes(hub_db)] == [
                ("north", "watchlist.put")
            ]
            await _push_until_done(pusher, hub_db)
            assert "Bea" not in _site_state(north)["people"]  # type: ignore[operator]

            # the hub's API shows it on the person's page
            ctx = create_hub_context(HubConfig(hub_dir=net.root / "hub"), hub_db)
            accounts.create_user(hub_db, "op", PASSWORD, Role.operator, created_by="test")
            c = Client(create_hub_app(ctx, HubContext(net.root / "hub", ["north"]), web=False))
            page = c.login("op").get(f"/api/v1/hub/people/{bea_uid}").json()
            assert (page["sites"], page["removed_at_sites"]) == ([], ["north"])
            assert page["placements"][0]["removed_by"] == "north-op"

            # enrolled anew at the hub (a reasoned act): sent to north again
            enrol(
                hub_db,
                audit,
                ADMIN,
                "Bea",
                [template(unit(rng.normal(size=128)), "b2")],
                legal_basis=LegalBasis.legitimate_interest,
                legal_basis_note="theft at gate 2, DPIA 11",
                reason="new incident, case 91",
            )
            await _push_until_done(pusher, hub_db)
            assert _site_state(north)["people"]["Bea"] == (bea_uid, 2)  # type: ignore[index]
            await await_for(lambda: list_people(hub_db)[0].sites == ["north"], 20)
            again = [r for r in audit_rows(north) if r.target_id == bea_uid][-1]
            assert again.reason == "new incident, case 91"
        finally:
            consumer.stop()
            await asyncio.wait_for(task, 10)
            await pusher.close()
            await asyncio.to_thread(agent.stop)

    asyncio.run(scenario())


def test_site_audit_out_of_order_and_repeated(tmp_path: Path) -> None:
    """A batch redelivered after a failure brings the site's push record after its later
    local deletion: the deletion still counts; applying copies twice changes nothing."""
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    t = datetime(2026, 5, 1, tzinfo=UTC).isoformat()
    push = {"seq": 4, "time": t, "action": "enroll", "target_kind": "hub_person"}
    push |= {"target_id": "u-1", "person": "7", "actor": "hub:ann", "reason": "r"}
    local = {"seq": 9, "time": t, "action": "remove_person", "target_kind": "person"}
    local |= {"target_id": "7", "person": "7", "actor": "site-op", "reason": "erasure"}
    try:
        with db.session() as s:
            s.add(HubPlacement(site="north", kind="person", uid="u-1"))
        for batch in ([local], [push], [push, local]):  # stored as store_batch would
            with db.session() as s:
                for r in batch:
                    if s.get(HubAuditRecord, ("north", r["seq"])) is None:
                        s.add(HubAuditRecord(site="north", seq=r["seq"], time=datetime.now(UTC),
                                             hash=str(r["seq"]), record=r))  # fmt: skip
                s.flush()
                note_site_audit(s, "north", batch)
                row = s.get(HubPlacement, ("north", "person", "u-1"))
                assert row is not None
                if batch != [local]:  # known as removed from the push record on
                    assert (row.site_person_id, row.removed_seq) == ("7", 9)
    finally:
        db.close()


# --- the CLI (real face photos) ---


def test_cli_hub_gallery(tmp_path: Path, testdata: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from vigil.cli import run

    faces = testdata / "faces"
    base = ["--data-dir", str(tmp_path / "site"), "hub", "--hub-dir", str(tmp_path / "hub")]
    enrol = ["people", "enrol", "Obama", "--photo", str(faces / "obama.jpg")]
    enrol += ["--photo", str(faces / "obama2.jpg"), "--legal-basis", "consent"]
    assert run([*base, *enrol]) != 0  # no reason
    assert "reason" in capsys.readouterr().err
    assert run([*base, *enrol, "--reason", "press pass"]) == 0
    assert run([*base, "watchlist", "create", "vip", "--site", "north", "--site", "bad site"]) != 0
    assert "not a site id" in capsys.readouterr().err
    assert run([*base, "watchlist", "create", "vip", "--site", "north"]) == 0
    assert run([*base, "watchlist", "add", "vip", "Obama"]) == 0
    capsys.readouterr()
    assert run([*base, "people", "list", "--json"]) == 0
    (person,) = json.loads(capsys.readouterr().out)
    assert (person["name"], person["templates"], person["sites"]) == ("Obama", 2, ["north"])

    search = [*base, "search", "--json", "--photo"]
    assert run([*search, str(faces / "obama3.jpg")]) != 0
    assert "needs a stated reason" in capsys.readouterr().err
    assert run([*search, str(faces / "obama3.jpg"), "--reason", "case 12"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["known"], found["name"], found["method"]) == (True, "Obama", "exact")
    assert run([*search, str(faces / "biden.jpg"), "--reason", "case 12"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] is None
    assert run([*base, "people", "remove", "Obama", "--reason", "pass expired"]) == 0
    assert run([*base, "pending"]) == 0
    out = capsys.readouterr().out
    assert "person.remove" in out and "person.put" not in out
