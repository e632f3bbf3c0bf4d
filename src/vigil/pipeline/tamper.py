"""A camera's picture health during live analysis: the detector, its kept reference, its alarms.

`PictureWatch.observe(t, image)` runs `camera.health.PictureHealth` on the analysed frame
(privacy masks already burned in, so neither the reference nor an alarm's snapshot holds a
pixel live view may not show), stores a new reference picture when the detector takes one,
and hands raised and cleared conditions to `events.health.HealthAlarms` with the frame as the
"after" snapshot. Every `measures_every_s` it saves the newest measures for the health summary
and notices a reference forgotten from outside (`vigil cameras health --accept`, the API), so
the next normal frame becomes the new one.
"""

from __future__ import annotations

import logging

import numpy as np

from vigil.camera.health import PictureHealth
from vigil.config import HealthConfig
from vigil.events.health import HealthAlarms
from vigil.store.models.events import Event
from vigil.vision.image import encode_jpeg

log = logging.getLogger(__name__)


class PictureWatch:
    def __init__(
        self,
        camera: str,
        cfg: HealthConfig,
        alarms: HealthAlarms,
        *,
        measures_every_s: float = 15.0,
        live: bool = True,
    ) -> None:
        self.camera = camera
        self.alarms = alarms
        self.measures_every_s = measures_every_s
        self.detector = PictureHealth(
            camera,
            cfg,
            reference=alarms.load_reference(camera),
            active=alarms.open_conditions(camera),
            live=live,
        )
        self._measured_at: float | None = None

    def observe(self, t: float, image: np.ndarray) -> list[Event]:
        """Check one analysed frame (BGR, masks burned in); returns the events raised or ended."""
        det = self.detector
        changes = det.observe(t, image)
        if det.reference_changed:
            det.reference_changed = False
            self.alarms.save_reference(self.camera, encode_jpeg(image, 85), t)
        after = encode_jpeg(image, 85) if any(c.started for c in changes) else None
        events = []
        for change in changes:
            event = self.alarms.apply(change, snapshot_jpeg=after if change.started else None)
            if event is not None:
                events.append(event)
                log.warning(
                    "camera %s: %s %s",
                    self.camera,
                    change.condition.value,
                    "raised" if change.started else "cleared",
                )
        if self._measured_at is None or t - self._measured_at >= self.measures_every_s:
            self._measured_at = t
            if det.last is not None:
                self.alarms.save_measures(self.camera, det.last.as_dict(), t)
            if det.reference is not None and not self.alarms.has_reference(self.camera):
                det.reset_reference()  # forgotten from outside: take it again
        return events
