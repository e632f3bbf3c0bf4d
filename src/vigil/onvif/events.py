"""A camera's own motion and analytics events, as Vigil events: one thread per camera with
`onvif: {events: true}` holds a pull-point subscription and pulls its messages.

A message whose topic is motion (`.../Motion`, `VideoSource/MotionAlarm`) or a rule of the camera's
rule engine (`RuleEngine/...`), with a boolean data item (`IsMotion`, `State`, ...), opens a
`motion` event when it turns true and completes it when it turns false, through
`vigil.events.store` (so MQTT, webhooks and review items follow as for any event). The event's
details say `source: onvif` and the topic. A subscription is renewed before it ends; a camera that
fails or goes away is subscribed to again after `retry_s`. Events still open when the poller stops
are completed then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.config import CameraConfig, OnvifCameraConfig
from vigil.errors import VigilError
from vigil.events.store import NO_ROUTING, Routing, create_event, update_event
from vigil.onvif.device import Notification, OnvifDevice, PullPoint
from vigil.store.db import Database
from vigil.store.models.events import Event, EventKind

log = logging.getLogger(__name__)

KEEP_S = 60.0  # a subscription's life, renewed at half
STATE_ITEMS = ("IsMotion", "State", "IsInside", "IsActive", "Active")


def is_motion_topic(topic: str) -> bool:
    return "Motion" in topic or topic.startswith("RuleEngine/")


def motion_state(n: Notification) -> bool | None:
    """True or False when `n` says motion (or a rule) started or stopped; None otherwise."""
    if not is_motion_topic(n.topic):
        return None
    named = [n.data[k] for k in STATE_ITEMS if k in n.data]
    values = named or [v for v in n.data.values() if v.lower() in ("true", "false")]
    if not values:
        return None
    return values[0].strip().lower() == "true"


@dataclass(frozen=True)
class Key:
    topic: str
    source: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, n: Notification) -> Key:
        return cls(n.topic, tuple(sorted(n.source.items())))


Connect = Callable[[OnvifCameraConfig], OnvifDevice]


def connect(cfg: OnvifCameraConfig) -> OnvifDevice:
    return OnvifDevice.connect(cfg.url, cfg.username, cfg.secret())


class OnvifEvents:
    """Pulls one camera's events in its own thread (`start`/`stop`) and stores them."""

    def __init__(
        self,
        camera: CameraConfig,
        db: Database,
        data_dir: Path,
        *,
        routing: Routing = NO_ROUTING,
        wake: Callable[[], None] | None = None,
        connect: Connect = connect,
    ) -> None:
        if camera.onvif is None:
            raise ValueError(f"camera {camera.name} has no onvif section")
        self.camera, self.cfg = camera.name, camera.onvif
        self.db, self.data_dir, self.routing, self.wake = db, data_dir, routing, wake
        self._connect = connect
        self.open: dict[Key, str] = {}  # motion going on: its event uid
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, messages: list[Notification]) -> list[Event]:
        """Store what these messages start or end; return the events touched."""
        touched = []
        for n in messages:
            state = motion_state(n)
            if state is None:
                continue
            key, uid = Key.of(n), self.open.get(Key.of(n))
            if state and uid is None:
                details = {"source": "onvif", "topic": n.topic, **n.source}
                event = create_event(
                    self.db,
                    camera=self.camera,
                    kind=EventKind.motion,
                    start=n.time,
                    details=details,
                    routing=self.routing,
                    wake=self.wake,
                )
                self.open[key] = event.uid
                touched.append(event)
            elif not state and uid is not None:
                touched.append(self._end(uid, n.time))
                del self.open[key]
        return touched

    def _end(self, uid: str, at: datetime) -> Event:
        return update_event(
            self.db, uid, end=at, data_dir=self.data_dir, routing=self.routing, wake=self.wake
        )

    def close_open(self) -> None:
        now = datetime.now(UTC)
        for uid in self.open.values():
            self._end(uid, now)
        self.open.clear()

    # --- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"onvif-{self.camera}", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """Ask the thread to end (it does after its current pull); `stop` waits for it."""
        self._stop.set()

    def stop(self, timeout_s: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s if timeout_s is not None else self.cfg.pull_wait_s + 10)
        self.close_open()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except VigilError as exc:
                self._failed(exc.message)
            except Exception as exc:  # a camera must not kill the node: log, try again later
                log.exception("ONVIF events of %s failed", self.camera)
                self._failed(str(exc))

    def _failed(self, message: str) -> None:
        if message != self.last_error:
            log.warning("ONVIF events of %s: %s", self.camera, message)
        self.last_error = message
        self._stop.wait(self.cfg.retry_s)

    def _follow(self) -> None:
        device = self._connect(self.cfg)
        pp = device.subscribe(KEEP_S)
        self.last_error = None
        try:
            while not self._stop.is_set():
                if device.soap.now() >= pp.terminates - timedelta(seconds=KEEP_S / 2):
                    pp = self._renew(device, pp)
                self.handle(device.pull(pp, self.cfg.pull_wait_s))
        finally:
            with contextlib.suppress(VigilError):  # else it ends at its termination time
                device.unsubscribe(pp)

    def _renew(self, device: OnvifDevice, pp: PullPoint) -> PullPoint:
        fresh = device.subscribe(KEEP_S)
        with contextlib.suppress(VigilError):
            device.unsubscribe(pp)
        return fresh
