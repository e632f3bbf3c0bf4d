"""An objection recorded at one site reaches every site through the hub: real nats-servers (a
hub and two leaf sites), each site's `EdgeSync` publishing and answering, the hub's consumer
and pusher. After the push, a photo of the objector is not identified at the other site (which
had enrolled them itself), cannot be enrolled there or at the hub, and the hub's own search
names nobody."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.errors import InputError
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, MatcherCache, check_photos
from vigil.faces.objections import RecordedObjection, record_objection
from vigil.hub.actor import Actor
from vigil.hub.gallery import TemplateIn, enrol
from vigil.hub.ingest import HubConsumer
from vigil.hub.placement import note_site_audit, person_placements
from vigil.hub.pusher import HubPusher, pending_pushes
from vigil.hub.search import search_across_sites
from vigil.privacy.audit import Action, AuditLog
from vigil.store.db import Database
from vigil.store.models import HubAuditRecord, HubSite, Objection
from vigil.store.models.faces import LegalBasis
from vigil.store.models.hub import HubPlacement
from vigil.store.models.objections import HubObjection
from vigil.sync.server import connect_site, find_binary

from ..sync.test_sync import Net, await_for, net  # noqa: F401  (fixture)
from .test_gallery import _edge_sync, _push_until_done

pytestmark = pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")


def _vec(engine: FaceEngine, path: Path) -> np.ndarray:
    face = engine.single_face(cv2.imread(str(path)), path.name)
    assert face.embedding is not None
    return face.embedding


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_objection_at_one_site_is_honoured_at_the_other(
    net: Net,  # noqa: F811
    engine: FaceEngine,
    faces_dir: Path,
) -> None:
    north, south, hub_db = net.dbs["north"], net.dbs["south"], net.hub_db
    model = engine.model_name
    cal = Calibration.default(model)
    audits = {site: AuditLog(net.root / site) for site in ("north", "south", "hub")}
    probe, other = _vec(engine, faces_dir / "obama2.jpg"), _vec(engine, faces_dir / "biden.jpg")

    def site_audit(site: str, action: Action, **kw: object):  # type: ignore[no-untyped-def]
        def hook(s: Session, person_id: int, templates: int) -> None:
            audits[site].record(s, actor=f"{site}-admin", action=action, person=person_id, **kw)  # type: ignore[arg-type]

        return hook

    # south enrolled Obama itself (and its audit record makes the hub know south)
    south_gallery = Gallery(south, model)
    south_gallery.enroll(
        "obama",
        check_photos(engine, [faces_dir / "obama.jpg"]),
        legal_basis=LegalBasis.consent,
        enrolled_by="south-admin",
        audit=site_audit("south", Action.enroll),
    )
    live_south = MatcherCache(south_gallery, cal, check_every_s=0)
    assert live_south.get().identify([probe])[0].name == "obama"
    # the hub has him too, from another photo
    enrol(
        hub_db, audits["hub"], Actor("hub-admin"), "Barack Obama",
        [TemplateIn(_vec(engine, faces_dir / "obama.jpg"), "o" * 64, 0.9, model)],
        legal_basis=LegalBasis.consent, reason="visitor badge",
    )  # fmt: skip

    async def scenario() -> None:
        agents = {s: _edge_sync(net, s) for s in ("north", "south")}
        consumer = HubConsumer(hub_db, net.hub.access, ["north", "south"])
        task = asyncio.create_task(consumer.run())
        pusher = HubPusher(hub_db, lambda site: connect_site(net.hub.access, site), timeout_s=3)
        try:
            await await_for(lambda: _count(hub_db, HubSite) == 1, 20)  # south's audit record

            def hook(s: Session, r: RecordedObjection) -> None:
                audits["north"].record(
                    s, actor="north-guard", action=Action.objection_recorded,
                    reason=r.objection.reason, target=("objection", r.objection.uid),
                    details=r.audit_details(),
                )  # fmt: skip

            recorded = record_objection(
                north, _vec(engine, faces_dir / "obama3.jpg"), model=model,
                match_threshold=cal.threshold, reason="objected at the north gate",
                recorded_by="north-guard", reference="N-7", audit=hook,
            )  # fmt: skip
            uid = recorded.objection.uid
            agents["north"].wake()
            await await_for(lambda: _count(hub_db, HubObjection) == 1, 20)
            assert [(p.site, p.verb, p.uid) for p in pending_pushes(hub_db)] == [
                ("south", "objection.put", uid)
            ]
            await _push_until_done(pusher, hub_db)
        finally:
            consumer.stop()
            await asyncio.wait_for(task, 10)
            await pusher.close()
            for agent in agents.values():
                await asyncio.to_thread(agent.stop)

    asyncio.run(scenario())

    with hub_db.session() as s:
        [kept] = s.scalars(select(HubObjection))
        assert (kept.site, kept.reference, kept.recorded_by) == ("north", "N-7", "north-guard")
    with south.session() as s:
        [row] = s.scalars(select(Objection))
        assert (row.uid, row.origin_site, row.reason) == (
            kept.uid,
            "north",
            "objected at the north gate",
        )
    # south: the live matcher withholds him now; a stranger is still just unknown
    withheld, stranger = live_south.get().identify([probe, other])
    assert withheld.objected and withheld.name is None and not stranger.objected
    with pytest.raises(InputError, match="objected to being recognised"):
        south_gallery.enroll(
            "B. Obama",
            check_photos(engine, [faces_dir / "obama2.jpg"]),
            legal_basis=LegalBasis.consent,
            enrolled_by="south-admin",
        )
    [rec] = audits["south"].query(south, action="objection_recorded")
    assert rec.actor == "hub:north-guard@north" and rec.reason == "objected at the north gate"
    assert rec.details["origin_site"] == "north"
    # the hub's own search across sites names nobody
    result = search_across_sites(
        hub_db, probe, who=Actor("hub-admin"), reason="case 9", audit=audits["hub"], calibration=cal
    )
    assert result.match.objected and result.match.name is None and result.events == []
    with pytest.raises(InputError, match="objected to being recognised"):  # nor enrolled there
        enrol(
            hub_db, audits["hub"], Actor("hub-admin"), "B. Obama",
            [TemplateIn(probe, "p" * 64, 0.9, model)],
            legal_basis=LegalBasis.consent, reason="visitor badge",
        )  # fmt: skip


def test_withdrawal_at_a_site_shows_at_the_hub(tmp_path: Path) -> None:
    """A hub person whose consent is withdrawn at a site is known at the hub as removed there
    (and not pushed back), like any removal made at the site."""
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    t = datetime(2026, 5, 1, tzinfo=UTC).isoformat()
    push = {"seq": 4, "time": t, "action": "enroll", "target_kind": "hub_person"}
    push |= {"target_id": "u-1", "person": "7", "actor": "hub:ann", "reason": "r"}
    gone = {"seq": 9, "time": t, "action": "consent_withdrawn", "target_kind": "person"}
    gone |= {"target_id": "7", "person": "7", "actor": "site-op", "reason": "by letter"}
    try:
        with db.session() as s:
            s.add(HubPlacement(site="north", kind="person", uid="u-1"))
            for r in (push, gone):
                s.add(HubAuditRecord(site="north", seq=r["seq"], time=datetime.now(UTC),
                                     hash=str(r["seq"]), record=r))  # fmt: skip
            s.flush()
            assert note_site_audit(s, "north", [push, gone]) == 1
        [placed] = person_placements(db, "u-1")
        assert (placed.state, placed.removed_reason) == ("removed_by_site", "by letter")
    finally:
        db.close()
