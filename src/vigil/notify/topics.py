"""MQTT topic names. Pure functions, so the event store can route without importing paho."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def segment(name: str) -> str:
    """A name made safe as one topic level (no '/', '+', '#', spaces)."""
    return _UNSAFE.sub("_", name).strip("_") or "_"


def event_topic(prefix: str, site: str, camera: str, kind: str) -> str:
    return f"{prefix}/{segment(site)}/events/{segment(camera)}/{kind}"


def camera_status_topic(prefix: str, site: str, camera: str) -> str:
    return f"{prefix}/{segment(site)}/cameras/{segment(camera)}/status"


def site_status_topic(prefix: str, site: str) -> str:
    """Retained 'online'/'offline' of this node; 'offline' is the broker-sent last will."""
    return f"{prefix}/{segment(site)}/status"
