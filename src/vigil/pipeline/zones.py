"""Zones: machine running / idle time lines, doorway counts, restricted-area alerts.

`ZoneMonitor.update(t, image, people)` is called once per analysed frame (after privacy
masks) with the person tracks alive; it returns what happened:
- machine: a closed interval (running or idle) each time the state switches. Moving means
  pixels inside the zone changed since the previous frame (frame differencing: background
  subtraction would learn a steadily turning machine as background and call it idle); pauses
  and bursts shorter than `smoothing_s` are not shown (`_Machine`);
- doorway: one crossing (in or out) per track that passes through the zone (people, vehicles
  or both: the zone's `objects`); a track lost inside and a new one beginning near it within
  `JOIN_S` are one person or vehicle (one crossing);
- restricted: one intrusion per track of the zone's `objects` that enters outside the
  allowed hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from vigil.config import ZoneConfig
from vigil.pipeline.tracker import Track
from vigil.vision.masks import to_pixels

if TYPE_CHECKING:
    from vigil.pipeline.analyzer import EventDraft

INWARD = {"up": (0.0, -1.0), "down": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}
GREY_WIDTH = 320  # machines are judged on a small blurred grey copy of the frame
CHANGE_LEVEL = 12  # grey levels a pixel must change by between frames to count as moving
MAX_GAP_S = 10.0  # no frame for this long (camera offline): the time line has a hole
CONFIRMED_HITS = 2  # a person track counts towards occupancy once seen this often
JOIN_S = 3.0  # a track that ends in a doorway may go on as a new one starting this soon after


@dataclass(frozen=True)
class ZoneHappening:
    zone: str
    kind: str  # machine | doorway | restricted
    what: str  # running | idle | in | out | intrusion
    start: float  # POSIX seconds
    end: float
    track_id: int | None = None
    object: str = "person"  # person | vehicle: what crossed or intruded


def _contains(polygon: np.ndarray, x: float, y: float) -> bool:
    return cv2.pointPolygonTest(polygon, (float(x), float(y)), False) >= 0


def _feet(track: Track[Any]) -> tuple[float, float]:
    x, y, w, h = track.box
    return x + w / 2, y + h


@dataclass
class _Machine:
    """A machine's time line. A frame is moving when enough of the zone changed since the
    previous frame. Running ends at the last moving frame once nothing has moved for
    `smoothing_s`; idle ends at the first moving frame of a burst that goes on (no still gap
    of `smoothing_s`) for `smoothing_s`. So a pause or a burst shorter than `smoothing_s` is
    not shown, any longer one is, and its edges are not moved by the smoothing."""

    cfg: ZoneConfig
    state: str | None = None  # running | idle
    since: float = 0.0  # when the state began
    last_moving: float | None = None  # the newest moving frame
    burst: float | None = None  # idle: the first moving frame of a burst not yet long enough
    last_t: float | None = None
    mask: np.ndarray | None = None  # at the grey frame's size
    previous: np.ndarray | None = None

    def update(self, t: float, gray: np.ndarray) -> list[ZoneHappening]:
        out: list[ZoneHappening] = []
        if self.last_t is not None and t - self.last_t > MAX_GAP_S and self.state is not None:
            out.append(self._close(self.last_t))
            self.state = self.last_moving = self.burst = None
        self.last_t = t
        previous, self.previous = self.previous, gray
        if previous is None or previous.shape != gray.shape:
            return out
        if self.mask is None or self.mask.shape != gray.shape:
            h, w = gray.shape
            self.mask = np.zeros((h, w), np.uint8)
            cv2.fillPoly(self.mask, [to_pixels(self.cfg.polygon, w, h)], 255)
        changed = cv2.threshold(cv2.absdiff(gray, previous), CHANGE_LEVEL, 255, cv2.THRESH_BINARY)[
            1
        ]
        area = max(1, int(np.count_nonzero(self.mask)))
        moving = np.count_nonzero(cv2.bitwise_and(changed, self.mask)) / area >= self.cfg.min_motion
        hold = self.cfg.smoothing_s
        if moving:
            self.last_moving = t
        if self.state is None:
            self.state, self.since = ("running" if moving else "idle"), t
        elif self.state == "running":
            assert self.last_moving is not None  # running began at a moving frame
            if not moving and t - self.last_moving >= hold:
                out.append(self._close(self.last_moving))
                self.state, self.since, self.burst = "idle", self.last_moving, None
        elif moving:
            self.burst = t if self.burst is None else self.burst
            if t - self.burst >= hold:
                out.append(self._close(self.burst))
                self.state, self.since, self.burst = "running", self.burst, None
        elif self.burst is not None and t - (self.last_moving or t) >= hold:
            self.burst = None  # too short: a person passing, not the machine
        return out

    def _close(self, end: float) -> ZoneHappening:
        assert self.state is not None
        return ZoneHappening(self.cfg.name, "machine", self.state, self.since, end)

    def finish(self) -> list[ZoneHappening]:
        if self.state is None or self.last_t is None:
            return []
        happening = self._close(self.last_t)
        self.state = None
        return [happening]


def _allowed(hours: str, when: datetime) -> bool:
    start_s, end_s = hours.split("-")
    start = clock.fromisoformat(start_s)
    end = clock.fromisoformat(end_s)
    now = when.time()
    return start <= now < end if start <= end else (now >= start or now < end)


@dataclass
class ZoneMonitor:
    zones: list[ZoneConfig]
    frame_size: tuple[int, int]  # width, height of the frames whose tracks are given
    _machines: list[_Machine] = field(default_factory=list)
    _polygons: dict[str, np.ndarray] = field(default_factory=dict)
    _entered: dict[tuple[str, int], tuple[float, float, float]] = field(default_factory=dict)
    _alerted: set[tuple[str, int]] = field(default_factory=set)
    # Doorway tracks that ended inside, not yet decided: zone -> [(entry, last feet, last
    # seen, height, track id)]; and tracks that began inside lately: zone -> [(id, x, y, t)].
    _ended: dict[str, list[tuple]] = field(default_factory=dict)
    _began: dict[str, list[tuple[int, float, float, float]]] = field(default_factory=dict)
    # Occupancy: people (confirmed person tracks) with their feet inside each zone.
    occupancy: dict[str, int] = field(default_factory=dict)  # at the latest frame
    peak: dict[str, int] = field(default_factory=dict)  # the most at once
    person_s: dict[str, float] = field(default_factory=dict)  # people x seconds inside
    _last_t: float | None = None
    _kind: dict[int, str] = field(default_factory=dict)  # track id -> person | vehicle

    def __post_init__(self) -> None:
        w, h = self.frame_size
        self._machines = [_Machine(z) for z in self.zones if z.kind == "machine"]
        self._polygons = {z.name: to_pixels(z.polygon, w, h) for z in self.zones}
        for z in self.zones:
            self.occupancy[z.name] = self.peak[z.name] = 0
            self.person_s[z.name] = 0.0

    def update(
        self,
        t: float,
        image: np.ndarray | None,
        people: list[Track[Any]],
        vehicles: list[Track[Any]] | None = None,
    ) -> list[ZoneHappening]:
        """`image`: the frame (None: no pixels, tracks only); `people`, `vehicles`: the tracks
        alive now (ids unique across both)."""
        out: list[ZoneHappening] = []
        if image is not None and self._machines:
            gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
            h, w = gray.shape
            # INTER_LINEAR is what this has always used: an INTER_AREA once passed positionally
            # was taken by OpenCV as `dst`. Changing it moves the machine-motion thresholds.
            small = cv2.resize(
                gray,
                (GREY_WIDTH, max(1, round(h * GREY_WIDTH / w))),
                interpolation=cv2.INTER_LINEAR,
            )
            small = cv2.GaussianBlur(small, (5, 5), 0)
            for machine in self._machines:
                out += machine.update(t, small)
        self._count(t, people)
        for zone in self.zones:
            if zone.kind == "machine":
                continue
            polygon = self._polygons[zone.name]
            tracked = [("person", tr) for tr in people] if "person" in zone.objects else []
            if "vehicle" in zone.objects:
                tracked += [("vehicle", tr) for tr in vehicles or []]
            for what, tr in tracked:
                self._kind[tr.id] = what
                x, y = _feet(tr)
                key = (zone.name, tr.id)
                inside = _contains(polygon, x, y)
                if zone.kind == "restricted":
                    local = datetime.fromtimestamp(t).astimezone()
                    if (
                        inside
                        and key not in self._alerted
                        and not _allowed(zone.allowed_hours, local)
                    ):
                        self._alerted.add(key)
                        out.append(
                            ZoneHappening(zone.name, "restricted", "intrusion", t, t, tr.id, what)
                        )
                elif inside and key not in self._entered:
                    joined = self._join(zone.name, tr.id, x, y, t) if tr.hits == 1 else None
                    self._entered[key] = joined or (x, y, t)
                elif not inside and key in self._entered:
                    out += self._crossing(zone, key, x, y, t)
        for zone_name, ended in self._ended.items():  # nobody went on: decide alone
            for item in [e for e in ended if t - e[2] > JOIN_S]:
                ended.remove(item)
                out += self._decide(zone_name, item)
        return out

    def _join(
        self, zone: str, track_id: int, x: float, y: float, t: float
    ) -> tuple[float, float, float] | None:
        """A track beginning inside a doorway near where another ended there just before is
        the same person (the detector lost them for a moment): it takes over that entry."""
        began = self._began.setdefault(zone, [])
        began[:] = [b for b in began if t - b[3] <= JOIN_S] + [(track_id, x, y, t)]
        for item in self._ended.get(zone, []):
            entry, (ex, ey), last, height, _ = item
            if 0 <= t - last <= JOIN_S and np.hypot(x - ex, y - ey) <= 2 * height:
                self._ended[zone].remove(item)
                return entry
        return None

    def _count(self, t: float, people: list[Track[Any]]) -> None:
        step = 0.0 if self._last_t is None or t - self._last_t > MAX_GAP_S else t - self._last_t
        self._last_t = t
        confirmed = [_feet(tr) for tr in people if tr.hits >= CONFIRMED_HITS]
        for zone in self.zones:
            self.person_s[zone.name] += self.occupancy[zone.name] * step
            polygon = self._polygons[zone.name]
            n = sum(_contains(polygon, x, y) for x, y in confirmed)
            self.occupancy[zone.name] = n
            self.peak[zone.name] = max(self.peak[zone.name], n)

    def tracks_ended(self, tracks: list[Track[Any]]) -> list[ZoneHappening]:
        """A person whose track ends inside a doorway crossed it if they got far enough in,
        unless a track that began nearby just after goes on for them (it takes the entry)."""
        for tr in tracks:
            for zone in self.zones:
                key = (zone.name, tr.id)
                self._alerted.discard(key)
                if key not in self._entered:
                    continue
                entry, (x, y) = self._entered.pop(key), _feet(tr)
                for other, bx, by, bt in self._began.get(zone.name, []):
                    near = np.hypot(bx - x, by - y) <= 2 * tr.box[3]
                    if other != tr.id and 0 < bt - tr.last_seen <= JOIN_S and near:
                        if (zone.name, other) in self._entered:
                            self._entered[(zone.name, other)] = entry
                        break  # its own crossing (if any) counts for both
                else:
                    item = (entry, (x, y), tr.last_seen, tr.box[3], tr.id)
                    self._ended.setdefault(zone.name, []).append(item)
        pending = {item[4] for items in self._ended.values() for item in items}
        for tr in tracks:
            if tr.id not in pending:
                self._kind.pop(tr.id, None)
        return []

    def _decide(self, zone_name: str, item: tuple) -> list[ZoneHappening]:
        entry, (x, y), last, _, track_id = item
        zone = next(z for z in self.zones if z.name == zone_name)
        self._entered[(zone_name, track_id)] = entry
        crossed = self._crossing(zone, (zone_name, track_id), x, y, last)
        if not any(i[4] == track_id for items in self._ended.values() for i in items):
            self._kind.pop(track_id, None)
        return crossed

    def _crossing(
        self, zone: ZoneConfig, key: tuple[str, int], x: float, y: float, t: float
    ) -> list[ZoneHappening]:
        x0, y0, t0 = self._entered.pop(key)
        dx, dy = INWARD[zone.inward]
        along = (x - x0) * dx + (y - y0) * dy
        polygon = self._polygons[zone.name]
        extent = np.ptp(polygon[:, 1] if dx == 0 else polygon[:, 0])
        if abs(along) < 0.3 * max(1, extent):
            return []  # stepped in and back out: no crossing
        what = "in" if along > 0 else "out"
        thing = self._kind.get(key[1], "person")
        return [ZoneHappening(zone.name, "doorway", what, t0, t, key[1], thing)]

    def finish(self) -> list[ZoneHappening]:
        out = []
        for machine in self._machines:
            out += machine.finish()
        for zone_name, ended in self._ended.items():
            for item in ended:
                out += self._decide(zone_name, item)
        self._ended.clear()
        self._began.clear()
        self._entered.clear()
        return out


def summarise(
    zones: list[ZoneConfig], events: list[EventDraft], monitor: ZoneMonitor | None = None
) -> list[dict[str, object]]:
    """Per zone (every one configured, even with nothing seen): machine running and idle
    seconds and spans, doorway entries and exits, restricted intrusions, and from `monitor`
    occupancy (the most people inside at once, people x seconds inside); times as the events
    give them (`vigil analyze`: seconds from the start of the file)."""
    out = []
    for zone in zones:
        mine = [e for e in events if e.kind == "zone_change" and e.zone == zone.name]
        spans = [
            {"state": e.details["state"], "start": round(e.start, 2), "end": round(e.end, 2)}
            for e in sorted(mine, key=lambda e: e.start)
            if e.details.get("zone_kind") == "machine"
        ]

        def seconds(state: str, spans: list[dict[str, Any]] = spans) -> float:
            return round(sum(s["end"] - s["start"] for s in spans if s["state"] == state), 2)

        def count(what: str, mine: list[EventDraft] = mine) -> int:
            return sum(e.details.get("state") == what for e in mine)

        out.append(
            {
                "name": zone.name,
                "kind": zone.kind,
                "running_s": seconds("running"),
                "idle_s": seconds("idle"),
                "spans": spans,
                "entries": count("in"),
                "exits": count("out"),
                "intrusions": count("intrusion"),
                "peak_people": monitor.peak.get(zone.name, 0) if monitor else 0,
                "person_s": round(monitor.person_s.get(zone.name, 0.0), 1) if monitor else 0.0,
            }
        )
    return out
