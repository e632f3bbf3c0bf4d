"""The JSON body of an event notification, the same for MQTT and webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from vigil.store.models.events import Event


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_payload(event: Event, person_name: str | None, site: str) -> dict[str, Any]:
    details = dict(event.details or {})
    return {
        "uid": event.uid,  # deduplicate on this: delivery is at least once
        "site": site,
        "camera": event.camera,
        "kind": event.kind.value,
        "start": iso(event.start),
        "end": iso(event.end),
        "person": None if event.person_id is None else {"id": event.person_id, "name": person_name},
        "score": event.score,
        "confidence": event.confidence,
        "zone": event.zone,
        "snapshot": event.snapshot,
        "action": details.get("action", "notify"),
        "details": details,
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
