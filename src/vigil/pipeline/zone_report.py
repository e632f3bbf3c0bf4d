"""Zone reports for a camera and a day: machine time lines (PNG) and minutes per state (CSV).

Reads the zone_change events that the analyzer stored: machine intervals carry
details.state = running | idle; doorway crossings carry details.state = in | out. The most
people inside each zone at once comes from the stored occupancy (`pipeline.occupancy`).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from vigil.config import ZoneConfig
from vigil.pipeline.occupancy import max_by_zone
from vigil.store.db import Database
from vigil.store.models import Event, EventKind

COLOURS = {"running": "#2e9d4a", "idle": "#c9c9c9"}


@dataclass
class ZoneDay:
    camera: str
    day: date
    start: datetime  # local midnight, timezone-aware
    end: datetime
    machines: dict[str, list[tuple[datetime, datetime, str]]] = field(default_factory=dict)
    doorways: dict[str, Counter[str]] = field(default_factory=dict)
    max_people: dict[str, int] = field(default_factory=dict)  # zones with occupancy stored

    def zones(self) -> list[str]:
        """The zones the CSV lists: machines, doorways, and any with occupancy stored."""
        return sorted(set(self.machines) | set(self.doorways) | set(self.max_people))

    def minutes(self, zone: str) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for a, b, state in self.machines.get(zone, []):
            totals[state] += (b - a).total_seconds() / 60
        covered = sum(totals.values())
        totals["no data"] = max(0.0, (self.end - self.start).total_seconds() / 60 - covered)
        return dict(totals)

    def shown(self) -> tuple[datetime, datetime]:
        """What the time line draws: the whole hours that hold machine data (the whole day
        when none does), so a short day's spans are not a sliver of a 24 h axis."""
        spans = [s for spans in self.machines.values() for s in spans]
        if not spans:
            return self.start, self.end
        first = min(a for a, _, _ in spans).replace(minute=0, second=0, microsecond=0)
        last = max(b for _, b, _ in spans)
        hours = max(1, -(-(last - first).total_seconds() // 3600))  # rounded up
        return max(self.start, first), min(self.end, first + timedelta(hours=hours))


def zone_day(
    db: Database, camera: str, day: date, zones: list[ZoneConfig] | None = None
) -> ZoneDay:
    """`zones`: the camera's configured zones; each machine and doorway among them is in the
    report even when nothing was recorded for it (zero minutes, zero crossings)."""
    start = datetime.combine(day, time()).astimezone()
    end = start + timedelta(days=1)
    report = ZoneDay(camera, day, start, end)
    for z in zones or []:
        if z.kind == "machine":
            report.machines.setdefault(z.name, [])
        elif z.kind == "doorway":
            report.doorways.setdefault(z.name, Counter())
    with db.session() as s:
        rows = s.scalars(
            select(Event)
            .where(
                Event.camera == camera,
                Event.kind == EventKind.zone_change,
                Event.start < end,
                Event.end >= start,
            )
            .order_by(Event.start)
        ).all()
    for e in rows:
        # The analyzer writes a zone change's state with its zone_kind (as zones.py reads it).
        kind = e.details.get("zone_kind")
        if kind == "machine" and e.end is not None:
            span = (max(e.start, start), min(e.end, end), e.details["state"])
            report.machines.setdefault(e.zone or "?", []).append(span)
        elif kind == "doorway":
            report.doorways.setdefault(e.zone or "?", Counter())[e.details["state"]] += 1
    report.max_people = max_by_zone(db, camera, start, end)
    return report


def write_csv(report: ZoneDay, out: Path) -> Path:
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        head = ["camera", "day", "zone", "running_min", "idle_min", "no_data_min", "in", "out"]
        w.writerow([*head, "max_people"])
        for zone in report.zones():
            m = report.minutes(zone) if zone in report.machines else {}
            door = report.doorways.get(zone)
            w.writerow(
                [
                    report.camera,
                    report.day.isoformat(),
                    zone,
                    *(f"{m.get(k, 0.0):.1f}" if m else "" for k in ("running", "idle", "no data")),
                    "" if door is None else door.get("in", 0),
                    "" if door is None else door.get("out", 0),
                    report.max_people.get(zone, ""),
                ]
            )
    return out


def write_png(report: ZoneDay, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    zones = sorted(report.machines)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.6 * max(1, len(zones))), dpi=110)
    for row, zone in enumerate(zones):
        for state in ("running", "idle"):
            spans = [
                (mdates.date2num(a), mdates.date2num(b) - mdates.date2num(a))
                for a, b, s in report.machines[zone]
                if s == state
            ]
            ax.broken_barh(spans, (row - 0.35, 0.7), color=COLOURS[state])
        m = report.minutes(zone)
        ax.text(
            1.005,
            row,
            f"{m.get('running', 0):.0f} min running",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(zones)), zones)
    ax.set_ylim(-0.6, max(1, len(zones)) - 0.4)
    first, last = report.shown()
    ax.set_xlim(mdates.date2num(first), mdates.date2num(last))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=report.start.tzinfo))
    hours = (last - first).total_seconds() / 3600
    every = 2 if hours > 12 else 1
    ax.xaxis.set_major_locator(mdates.HourLocator(interval=every, tz=report.start.tzinfo))
    if hours <= 3:
        ax.xaxis.set_minor_locator(mdates.MinuteLocator(byminute=[15, 30, 45]))
    ax.set_title(
        f"{report.camera}: machines on {report.day:%A %d %B %Y} (grey: idle, blank: no data)"
    )
    ax.legend(
        handles=[Patch(color=c, label=s) for s, c in COLOURS.items()],
        loc="upper left",
        bbox_to_anchor=(0, -0.25),
        ncol=2,
        frameon=False,
        fontsize=8,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
