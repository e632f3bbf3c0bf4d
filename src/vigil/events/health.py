"""Camera health alarms as events: one `camera_<condition>` event per fault, open while it lasts.

`HealthAlarms.apply(change)` stores what `vigil.camera.health` reports: a raised condition
becomes an event with no end (its outbox rows go out at once: MQTT topic
`<prefix>/<site>/events/<camera>/camera_<condition>`, webhooks), its snapshot the frame that
raised it (the "after") and `details.before` the camera's kept reference picture (the
"before"); a cleared one gets its end, and every target told of the start is told of the end.
A condition is raised once: a second raise while its event is open returns that event.

The reference JPEG and the newest picture measures of each camera are kept in
`camera_health`, so a restart compares with the same reference and continues open alarms
(`open_conditions`) instead of raising them twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from vigil.camera.health import HealthChange, Reference
from vigil.errors import NotFoundError
from vigil.events.store import SNAPSHOTS, Routing, create_event, new_uid, update_event
from vigil.files import write_atomic
from vigil.store.db import Database
from vigil.store.enums import HealthCondition
from vigil.store.models.events import Event, EventKind
from vigil.store.models.health import CameraHealth

HEALTH_KINDS = tuple(EventKind(c.event_kind) for c in HealthCondition)
REFERENCES = "health"  # folder under data_dir: <camera>/reference.jpg


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode=0o644)


@dataclass
class CameraHealthState:
    """What the health summary shows of one camera."""

    camera: str
    open: dict[str, Event]  # condition -> its open event
    reference: str | None
    reference_at: datetime | None
    measures: dict[str, Any]
    updated_at: datetime | None

    @property
    def healthy(self) -> bool:
        return not self.open


class HealthAlarms:
    """Turns health changes into events, and keeps each camera's reference picture."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        routing: Callable[[], Routing] = Routing,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.data_dir = Path(data_dir)
        self.routing = routing
        self.wake = wake

    def open_events(self, camera: str | None = None) -> list[Event]:
        q = select(Event).where(Event.kind.in_(HEALTH_KINDS), Event.end.is_(None))
        if camera is not None:
            q = q.where(Event.camera == camera)
        with self.db.session() as s:
            return list(s.scalars(q.order_by(Event.start)))

    def open_conditions(self, camera: str) -> set[HealthCondition]:
        return {
            HealthCondition(e.kind.value.removeprefix("camera_")) for e in self.open_events(camera)
        }

    def apply(
        self,
        change: HealthChange,
        *,
        snapshot_jpeg: bytes | None = None,
    ) -> Event | None:
        """Store a raised condition as a new open event, or end the open one it clears."""
        kind = EventKind(change.condition.event_kind)
        current = next((e for e in self.open_events(change.camera) if e.kind == kind), None)
        if not change.started:
            if current is None:
                return None
            return update_event(
                self.db,
                current.uid,
                end=max(_at(change.at), current.start),
                data_dir=self.data_dir,
                details={"cleared": change.measures},
                routing=self.routing(),
                wake=self.wake,
            )
        if current is not None:
            return current
        uid, start = new_uid(), _at(change.at)
        details: dict[str, Any] = {"condition": change.condition.value, "measures": change.measures}
        before = self._copy_reference(change.camera, start, uid)
        if before is not None:
            details["before"] = before
        return create_event(
            self.db,
            camera=change.camera,
            kind=kind,
            start=start,
            uid=uid,
            snapshot_jpeg=snapshot_jpeg,
            data_dir=self.data_dir,
            details=details,
            routing=self.routing(),
            wake=self.wake,
        )

    def _copy_reference(self, camera: str, start: datetime, uid: str) -> str | None:
        row = self._row(camera)
        if row is None or not row.reference:
            return None
        src = self.data_dir / row.reference
        if not src.is_file():
            return None
        rel = Path(SNAPSHOTS) / camera / start.strftime("%Y-%m-%d") / f"{uid}-before.jpg"
        _write(self.data_dir / rel, src.read_bytes())
        return rel.as_posix()

    def _row(self, camera: str) -> CameraHealth | None:
        with self.db.session() as s:
            return s.get(CameraHealth, camera)

    def save_reference(self, camera: str, jpeg: bytes, at: float) -> str:
        """Keep `jpeg` as the camera's reference picture (replacing the previous one)."""
        rel = (Path(REFERENCES) / camera / "reference.jpg").as_posix()
        _write(self.data_dir / rel, jpeg)
        with self.db.session() as s:
            row = s.get(CameraHealth, camera) or CameraHealth(camera=camera, measures={})
            row.reference, row.reference_at = rel, _at(at)
            row.updated_at = datetime.now(UTC)
            s.add(row)
        return rel

    def has_reference(self, camera: str) -> bool:
        row = self._row(camera)
        return row is not None and row.reference is not None

    def load_reference(self, camera: str) -> Reference | None:
        """The kept reference, ready to compare with; None when there is none (or unreadable)."""
        row = self._row(camera)
        if row is None or not row.reference or row.reference_at is None:
            return None
        path = self.data_dir / row.reference
        image = None
        if path.is_file():
            image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE)
        if image is None:
            return None
        return Reference.of(image, row.reference_at.timestamp())

    def forget_reference(self, camera: str) -> bool:
        """Accept the camera's current view: its reference is taken again from the next normal
        frame (after an intended move or refocus). False when it had none."""
        with self.db.session() as s:
            row = s.get(CameraHealth, camera)
            if row is None or row.reference is None:
                return False
            path = self.data_dir / row.reference
            row.reference, row.reference_at = None, None
        if path.is_file():
            os.unlink(path)
        return True

    def save_measures(self, camera: str, measures: dict[str, float], at: float) -> None:
        with self.db.session() as s:
            row = s.get(CameraHealth, camera) or CameraHealth(camera=camera)
            row.measures, row.updated_at = measures, _at(at)
            s.add(row)

    def states(self, cameras: list[str]) -> list[CameraHealthState]:
        """Every camera's health, in the order given (cameras never seen: no measures)."""
        open_by: dict[str, dict[str, Event]] = {c: {} for c in cameras}
        for e in self.open_events():
            open_by.setdefault(e.camera, {})[e.kind.value.removeprefix("camera_")] = e
        with self.db.session() as s:
            rows = {r.camera: r for r in s.scalars(select(CameraHealth))}
        out = []
        for camera in cameras:
            row = rows.get(camera)
            out.append(
                CameraHealthState(
                    camera,
                    open_by.get(camera, {}),
                    row.reference if row else None,
                    row.reference_at if row else None,
                    dict(row.measures or {}) if row else {},
                    row.updated_at if row else None,
                )
            )
        return out

    def state(self, camera: str) -> CameraHealthState:
        return self.states([camera])[0]


def reference_path(db: Database, data_dir: Path, camera: str) -> Path:
    """The file of a camera's reference picture; NotFoundError when it has none."""
    with db.session() as s:
        row = s.get(CameraHealth, camera)
        rel = row.reference if row else None
    path = Path(data_dir) / rel if rel else None
    if path is None or not path.is_file():
        raise NotFoundError(f"camera {camera} has no reference picture yet")
    return path
