"""The site's side of objections through the hub: verb `objection.put` (see
`vigil.sync.commands`).

An objection recorded at another site arrives here as that site recorded it (`origin_site`):
it is kept like one recorded here, so this site's matcher, photo search and enrolment honour
it at once (`vigil.faces.objections`), unknown-face templates of that face are deleted, and
the site's audit log records it as `objection_recorded` by `hub:<who>@<site>`. Idempotent by
uid: a repeated push changes nothing.
"""

from __future__ import annotations

import base64

import numpy as np
from sqlalchemy.orm import Session

from vigil.faces.calibration import load_calibration
from vigil.faces.objections import (
    ObjectionGuard,
    add_objection,
    objection_threshold,
    objector_people,
    purge_matching_unknown,
)
from vigil.privacy.audit import Action, AuditLog
from vigil.store.models.objections import Objection
from vigil.sync import wire
from vigil.sync.commands import CommandContext, register


def _audit(
    ctx: CommandContext, s: Session, body: wire.ObjectionPut, row: Objection, **d: int
) -> None:
    log = AuditLog(ctx.data_dir, checkpoint_every=ctx.config.privacy.audit_checkpoint_every)
    log.record(
        s,
        actor=f"hub:{body.by or 'unknown'}",
        action=Action.objection_recorded,
        source="hub",
        reason=body.reason or "",
        target=("objection", row.uid),
        details={
            "via": "hub push",
            "origin_site": body.origin_site,
            "reference": row.reference,
            "model": row.model,
            **d,
        },
    )


@register("objection.put", wire.ObjectionPut)
def objection_put(ctx: CommandContext, body: wire.ObjectionPut) -> wire.Reply:
    vec = np.frombuffer(base64.b64decode(body.embedding), np.float32)
    threshold = load_calibration(
        ctx.data_dir, body.model, ctx.config.faces.match_threshold
    ).threshold
    with ctx.db.session() as s:
        row, new = add_objection(
            s,
            vec,
            model=body.model,
            reason=body.reason or "",
            recorded_by=body.recorded_by or "",
            reference=body.reference or "",
            uid=body.uid,
            recorded_at=body.recorded_at,
            origin_site=body.origin_site,
        )
        if new:
            mine = ObjectionGuard(vec[None, :], objection_threshold(threshold))
            _audit(
                ctx,
                s,
                body,
                row,
                unknown_faces_deleted=purge_matching_unknown(s, mine, body.model),
                enrolled_withheld=len(objector_people(s, mine, body.model)),
            )
    return wire.Reply()
