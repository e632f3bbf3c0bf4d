"""The JSON body of an event notification, the same for MQTT and webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from vigil.store.models.events import Event, EventState


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


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
