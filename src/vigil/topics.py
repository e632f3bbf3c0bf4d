"""MQTT topic names: where outbox rows go. Pure functions, in the base layer: the event store
writes outbox rows addressed with them and `notify` delivers them, neither importing the other
(docs/architecture.md), and without importing paho."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def segment(name: str) -> str:
    """A name made safe as one topic level (no '/', '+', '#', spaces)."""
    return _UNSAFE.sub("_", name).strip("_") or "_"


PERSON_KINDS = frozenset({"person", "face", "known_person"})


def event_topic(prefix: str, site: str, camera: str, kind: str) -> str:
    return f"{prefix}/{segment(site)}/events/{segment(camera)}/{kind}"


def person_topic(prefix: str, site: str, camera: str) -> str:
    """Every person-kind event of a camera, whatever its kind: one topic a Home Assistant
    person sensor can follow (an MQTT entity has a single state topic)."""
    return f"{prefix}/{segment(site)}/cameras/{segment(camera)}/person"


def event_topics(prefix: str, site: str, camera: str, kind: str) -> list[str]:
    """Where an event goes: its kind's topic, and the camera's person topic for people."""
    topics = [event_topic(prefix, site, camera, kind)]
    if kind in PERSON_KINDS:
        topics.append(person_topic(prefix, site, camera))
    return topics


def camera_status_topic(prefix: str, site: str, camera: str) -> str:
    return f"{prefix}/{segment(site)}/cameras/{segment(camera)}/status"


def zone_occupancy_topic(prefix: str, site: str, camera: str, zone: str) -> str:
    """Retained JSON `{"people": N, "at": ...}`: people inside one zone of a camera now."""
    return f"{prefix}/{segment(site)}/cameras/{segment(camera)}/zones/{segment(zone)}/occupancy"


def storage_topic(prefix: str, site: str) -> str:
    """Retained JSON of the storage alarm: may recording write, who uses the disk."""
    return f"{prefix}/{segment(site)}/storage"


def reviews_topic(prefix: str, site: str) -> str:
    """Review items of every camera of the site: new, update and end (`notify.payload`)."""
    return f"{prefix}/{segment(site)}/reviews"


def site_status_topic(prefix: str, site: str) -> str:
    """Retained 'online'/'offline' of this node; 'offline' is the broker-sent last will."""
    return f"{prefix}/{segment(site)}/status"
