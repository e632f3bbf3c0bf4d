"""Who sees people pixelated on which camera (issue 7), and their unmask grants.

A caller is protected on a camera when their role is in the camera's
`privacy_view.protected_roles` and their session holds no unexpired unmask grant for it.
Grants are per session (per user for API tokens), kept in memory by the API process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from vigil.api.context import ApiContext
from vigil.api.deps import Perm, Principal
from vigil.api.schemas import ViewStateOut
from vigil.config import CameraConfig
from vigil.privacy.protected_cache import ProtectedCache, cache_root
from vigil.privacy.protected_view import UnmaskGrants
from vigil.store.models.camera import Segment

NEXT_GAP_S = 2.0  # a segment starting this soon after another is played after it


def grants_of(ctx: ApiContext) -> UnmaskGrants:
    return ctx.__dict__.setdefault("_unmask_grants", UnmaskGrants())


def protected_cache(ctx: ApiContext) -> ProtectedCache:
    cache = ctx.__dict__.get("_protected_cache")
    if cache is None:
        at_once = ctx.config.api.protected_renders_at_once
        cache = ctx.__dict__["_protected_cache"] = ProtectedCache(
            cache_root(ctx.data_dir), at_once=at_once
        )
    return cache


def next_segment(ctx: ApiContext, seg: Segment) -> Segment | None:
    """The complete segment the player chains to after `seg`, if any."""
    if seg.end is None:
        return None
    with ctx.db.session() as s:
        return s.scalar(
            select(Segment)
            .where(
                Segment.camera == seg.camera,
                Segment.complete.is_(True),
                Segment.start > seg.start,
                Segment.start <= seg.end + timedelta(seconds=NEXT_GAP_S),
            )
            .order_by(Segment.start, Segment.id)
            .limit(1)
        )


def viewer_key(p: Principal) -> str:
    """What a grant belongs to: the UI session, or the user for API tokens."""
    return f"session:{p.session_id}" if p.session_id is not None else f"user:{p.account.id}"


def role_protected(p: Principal, cam: CameraConfig) -> bool:
    return p.role.value in cam.privacy_view.protected_roles


def unmasked_until(ctx: ApiContext, p: Principal, cam: CameraConfig) -> float | None:
    """When the caller's plain view of the camera ends; None when they have none (a grant
    lapses with the caller's unmask permission too)."""
    if not p.can(Perm.unmask):
        return None
    return grants_of(ctx).until(viewer_key(p), cam.name)


def is_protected(ctx: ApiContext, p: Principal, cam: CameraConfig) -> bool:
    """People are pixelated for this caller on this camera right now."""
    return role_protected(p, cam) and unmasked_until(ctx, p, cam) is None


def view_state(ctx: ApiContext, p: Principal, cam: CameraConfig) -> ViewStateOut:
    until = unmasked_until(ctx, p, cam)
    return ViewStateOut(
        camera=cam.name,
        protected=role_protected(p, cam) and until is None,
        protected_role=role_protected(p, cam),
        can_unmask=p.can(Perm.unmask),
        unmasked_until=datetime.fromtimestamp(until, UTC) if until is not None else None,
    )
