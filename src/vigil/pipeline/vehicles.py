"""Vehicles: a vehicle track that drove somewhere becomes one event, with its class and way.

A parked car is found again whenever something moves near it; its track goes nowhere, so it
raises nothing. A vehicle counts as moving once its box's centre travelled at least
`MIN_TRAVEL` of its own size (the smaller of width and height) between its first and last
sighting. The class is the one the detector gave most often (a van flickers between car and
truck); the direction is the main axis of the travel on screen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vigil.pipeline.track_state import Sighting
from vigil.pipeline.tracker import Track

MIN_TRAVEL = 1.0


@dataclass
class VehicleState(Sighting):
    """What a vehicle track keeps: its snapshot and the classes the detector gave it."""

    labels: Counter[str] = field(default_factory=Counter)  # detections per class

    @property
    def label(self) -> str:
        """The class the detector gave most often ("vehicle" before any)."""
        return (self.labels or Counter({"vehicle": 1})).most_common(1)[0][0]


def travel(track: Track[Any]) -> tuple[float, float]:
    """How far the box's centre moved, first sighting to last, in pixels (dx, dy)."""
    (_, (x0, y0, w0, h0)), (_, (x1, y1, w1, h1)) = track.path[0], track.path[-1]
    return x1 + w1 / 2 - (x0 + w0 / 2), y1 + h1 / 2 - (y0 + h0 / 2)


def drove(track: Track[Any]) -> bool:
    dx, dy = travel(track)
    _, (_, _, w, h) = track.path[-1]
    return (dx * dx + dy * dy) ** 0.5 >= MIN_TRAVEL * min(w, h)


def direction(track: Track[Any]) -> str:
    dx, dy = travel(track)
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"
