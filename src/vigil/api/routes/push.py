"""Web Push: the site's public key, and the devices the caller is told on.

Any role that sees events (`view`) may enable notifications on a device; what each push says
is decided when it is sent, by the subscriber's role then (`identity.push_audience`). A user
sees and removes their own devices; an admin (`users`) lists and removes anyone's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from vigil.api.deps import Ctx, Id, Perm, Viewer
from vigil.api.schemas import Strict
from vigil.notify.subscriptions import Choice, subscribe, subscriptions, unsubscribe
from vigil.notify.vapid import load_or_create
from vigil.store.models.push import PushSubscription

router = APIRouter(prefix="/push", tags=["push"])


class PushKeyOut(BaseModel):
    enabled: bool = Field(description="Whether this site sends Web Push (`notify.push.enabled`).")
    public_key: str | None = Field(
        description="The VAPID public key, base64url: `applicationServerKey` for subscribe()."
    )


class PushKeysIn(Strict):
    p256dh: str = Field(min_length=16, max_length=200)
    auth: str = Field(min_length=8, max_length=100)


class PushSubscriptionIn(Strict):
    endpoint: str = Field(min_length=10, max_length=2000, description="PushSubscription.endpoint")
    keys: PushKeysIn
    alerts: bool = Field(True, description="Alerts: known people, watchlist hits, intrusions.")
    reviews: bool = Field(False, description="Each new review item.")
    cameras: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=200, description="Only these cameras (empty: all)."
    )
    label: str = Field("", max_length=200, description="A name for the device, e.g. the browser.")


class PushSubscriptionOut(BaseModel):
    id: int
    user_id: int
    endpoint: str
    alerts: bool
    reviews: bool
    cameras: list[str]
    label: str
    created_at: datetime
    last_sent_at: datetime | None


def _out(s: PushSubscription) -> PushSubscriptionOut:
    return PushSubscriptionOut(
        id=s.id,
        user_id=s.user_id,
        endpoint=s.endpoint,
        alerts=s.alerts,
        reviews=s.reviews,
        cameras=list(s.cameras or []),
        label=s.label,
        created_at=s.created_at,
        last_sent_at=s.last_sent_at,
    )


@router.get("/key", response_model=PushKeyOut, summary="The site's VAPID public key")
def push_key(p: Viewer, ctx: Ctx) -> PushKeyOut:
    if not ctx.config.notify.push.enabled:
        return PushKeyOut(enabled=False, public_key=None)
    return PushKeyOut(enabled=True, public_key=load_or_create(ctx.data_dir).public_b64)


@router.get(
    "/subscriptions",
    response_model=list[PushSubscriptionOut],
    summary="Your devices (every user's for admins with all=true)",
)
def list_subscriptions(
    p: Viewer, ctx: Ctx, all_users: Annotated[bool, Query(alias="all")] = False
) -> list[PushSubscriptionOut]:
    if all_users and not p.can(Perm.users):
        raise HTTPException(403, f"the {p.role.value} role may not list other users' devices")
    return [_out(s) for s in subscriptions(ctx.db, None if all_users else p.account.id)]


@router.post(
    "/subscriptions",
    response_model=PushSubscriptionOut,
    status_code=201,
    summary="Enable notifications on a device (replaces its earlier choice)",
)
def add_subscription(body: PushSubscriptionIn, p: Viewer, ctx: Ctx) -> PushSubscriptionOut:
    if not ctx.config.notify.push.enabled:
        raise HTTPException(409, "Web Push is off on this site (notify.push.enabled)")
    sub = subscribe(
        ctx.db,
        p.account.id,
        body.endpoint,
        body.keys.p256dh,
        body.keys.auth,
        Choice(body.alerts, body.reviews, list(body.cameras)),
        known_cameras=[c.name for c in ctx.config.cameras],
        label=body.label,
    )
    return _out(sub)


@router.delete(
    "/subscriptions/{sub_id}",
    status_code=204,
    response_class=Response,
    summary="Stop notifications on a device",
)
def remove_subscription(sub_id: Id, p: Viewer, ctx: Ctx) -> Response:
    unsubscribe(ctx.db, sub_id, user_id=None if p.can(Perm.users) else p.account.id)
    return Response(status_code=204)
