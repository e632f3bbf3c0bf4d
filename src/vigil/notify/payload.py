"""The JSON bodies of notifications: an event (the same for MQTT and webhooks), a review item."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from vigil.store.models.events import Event, EventState
from vigil.store.models.review import ReviewItem


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_payload(
    event: Event,
    person_name: str | None,
    site: str,
    state: EventState = EventState.started,
    *,
    identify: bool = True,
) -> dict[str, Any]:
    """The event as stored when sent. `state`: "started" when stored (or announced while it
    goes on), "ended" when an announced event completed. `identify=False` leaves the person
    out (a camera that does not recognise faces, per the current config)."""
    details = dict(event.details or {})
    if not identify:
        details.pop("watchlists", None)
    known = identify and event.person_id is not None
    return {
        "uid": event.uid,  # deduplicate on (uid, state): delivery is at least once
        "state": state.value,
        "site": site,
        "camera": event.camera,
        "kind": event.kind.value,
        "start": iso(event.start),
        "end": iso(event.end),
        "person": {"id": event.person_id, "name": person_name} if known else None,
        "score": event.score,
        "confidence": event.confidence,
        "zone": event.zone,
        "snapshot": event.snapshot,
        "action": details.get("action", "notify"),
        "details": details,
    }


def review_payload(item: ReviewItem, state: str, site: str) -> dict[str, Any]:
    """A review item as stored when sent. `state`: "new", "update" or "end". Never names a
    person: the object counts say `known_person`, the names go only in event payloads, by
    their rule (`event_payload`'s `identify`)."""
    return {
        "id": item.id,  # deduplicate on (id, state, updated_at): delivery is at least once
        "state": state,
        "site": site,
        "camera": item.camera,
        "severity": item.severity.value,
        "start": iso(item.start),
        "end": iso(item.end),
        "active": not item.closed,
        "objects": dict(item.objects or {}),
        "updated_at": iso(item.updated_at),
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
