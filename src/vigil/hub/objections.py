"""Objections to recognition at the hub: kept from the site that recorded them, pushed to all.

A site publishes each objection it records (`wire.ObjectionCopy` on `vigil.<site>.objections`);
`store_objections` keeps it (`hub_objections`, once per uid, in the batch's transaction) and
queues an `objection.put` to every other site the hub knows, and `objections_for_new_site` to a
site the hub sees for the first time. `HubPusher` sends them like gallery pushes (retried until
the site answers that it stored it). The hub's own search honours them (`hub.search`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.hub.placement import queue_push
from vigil.store.models import HubSite
from vigil.store.models.objections import HubObjection
from vigil.sync import wire

VERB = "objection.put"


def objection_body(o: HubObjection) -> wire.ObjectionPut:
    return wire.ObjectionPut(
        uid=o.uid,
        by=f"{o.recorded_by}@{o.site}",
        reason=o.reason,
        origin_site=o.site,
        model=o.model,
        embedding=base64.b64encode(o.embedding).decode(),
        reference=o.reference,
        recorded_by=o.recorded_by,
        recorded_at=o.recorded_at,
    )


def store_objections(s: Session, site: str, copies: Iterable[wire.ObjectionCopy]) -> int:
    """Keep `site`'s objections not kept yet and queue them to every other site; returns how
    many were new. A copy naming another site than its sender is ignored."""
    new = 0
    others = [n for n in s.scalars(select(HubSite.name)) if n != site]
    for c in copies:
        if c.site not in ("", site) or s.scalar(
            select(HubObjection.id).where(HubObjection.uid == c.uid)
        ):
            continue
        row = HubObjection(
            uid=c.uid,
            site=site,
            embedding=base64.b64decode(c.embedding),
            model=c.model,
            reason=c.reason,
            reference=c.reference or "",
            recorded_by=c.recorded_by,
            recorded_at=c.recorded_at,
            received_at=datetime.now(UTC),
        )
        s.add(row)
        for other in others:
            queue_push(s, other, VERB, row.uid, objection_body(row))
        new += 1
    return new


def objections_for_new_site(s: Session, site: str) -> int:
    """Queue every objection recorded elsewhere to `site`, which the hub sees for the first
    time; returns how many."""
    rows = list(s.scalars(select(HubObjection).where(HubObjection.site != site)))
    for row in rows:
        queue_push(s, site, VERB, row.uid, objection_body(row))
    return len(rows)
