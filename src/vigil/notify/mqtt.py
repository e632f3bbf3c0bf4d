"""The MQTT link: one persistent paho client, retained status, Home Assistant discovery.

The broker keeps our session (fixed client id, clean session off), and paho re-sends
unacknowledged QoS 1 messages after a reconnect. The outbox, not paho's memory, is what
makes delivery survive a restart of Vigil: a row is done only once the broker sent PUBACK.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.config import MqttConfig
from vigil.topics import (
    camera_status_topic,
    event_topic,
    person_topic,
    segment,
    site_status_topic,
    storage_topic,
    zone_occupancy_topic,
)

log = logging.getLogger(__name__)


# The recognised name, or HA's "unknown" when the event carries none (person erased).
LAST_PERSON_TEMPLATE = "{{ value_json.person.name if value_json.person else None }}"


def discovery_messages(
    cfg: MqttConfig, site: str, cameras: list[str], recognising: Collection[str] = ()
) -> list[tuple[str, dict[str, Any] | None]]:
    """Home Assistant discovery configs (topic, payload): per camera a motion sensor, a person
    sensor on for any person-kind event, and, where the camera recognises faces, a
    last-known-person sensor. A None payload removes the sensor (recognition off)."""
    node = f"vigil_{segment(site)}"
    availability = {
        "availability_topic": site_status_topic(cfg.topic_prefix, site),
        "payload_available": "online",
        "payload_not_available": "offline",
    }
    out: list[tuple[str, dict[str, Any] | None]] = []
    for cam in cameras:
        device = {
            "identifiers": [f"{node}_{segment(cam)}"],
            "name": f"{site} {cam}",
            "manufacturer": "Vigil",
            "model": "camera",
        }
        base = f"{node}_{segment(cam)}"
        binary = (
            ("motion", "motion", event_topic(cfg.topic_prefix, site, cam, "motion")),
            ("person", "occupancy", person_topic(cfg.topic_prefix, site, cam)),
        )
        for kind, device_class, state_topic in binary:
            out.append(
                (
                    f"{cfg.ha_prefix}/binary_sensor/{node}/{segment(cam)}_{kind}/config",
                    {
                        "name": kind.capitalize(),
                        "unique_id": f"{base}_{kind}",
                        "state_topic": state_topic,
                        "value_template": "ON",  # any event on the topic means "seen now"
                        "payload_on": "ON",
                        "off_delay": 30,
                        "device_class": device_class,
                        "device": device,
                        **availability,
                    },
                )
            )
        known = event_topic(cfg.topic_prefix, site, cam, "known_person")
        last = None
        if cam in recognising:
            last = {
                "name": "Last known person",
                "unique_id": f"{base}_last_person",
                "state_topic": known,
                "value_template": LAST_PERSON_TEMPLATE,
                "json_attributes_topic": known,
                "icon": "mdi:account",
                "device": device,
                **availability,
            }
        out.append((f"{cfg.ha_prefix}/sensor/{node}/{segment(cam)}_last_person/config", last))
    return out


class MqttLink:
    """A paho client that reconnects by itself; `publish` returns paho's message info."""

    def __init__(
        self,
        cfg: MqttConfig,
        site: str,
        cameras: list[str],
        *,
        recognising: Collection[str] = (),
        on_change: Callable[[], None] = lambda: None,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.cfg = cfg
        self.site = site
        self.cameras = cameras
        self.recognising = frozenset(recognising)
        self._on_change = on_change
        self._lock = threading.Lock()
        self._camera_status: dict[str, dict[str, Any]] = {}
        self._storage: dict[str, Any] | None = None
        self._zones: dict[tuple[str, str], dict[str, Any]] = {}  # (camera, zone) -> occupancy
        self._connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id or f"vigil-{segment(site)}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if cfg.username is not None:
            self.client.username_pw_set(cfg.username, cfg.password)
        self.client.will_set(
            site_status_topic(cfg.topic_prefix, site), "offline", qos=1, retain=True
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(reconnect_max_s)))
        self.client.max_inflight_messages_set(100)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = lambda *_: self._on_change()

    def start(self) -> None:
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        if self._connected.is_set():
            info = self.client.publish(
                site_status_topic(self.cfg.topic_prefix, self.site), "offline", qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        self._connected.clear()  # a disconnect we asked for is not worth a warning
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self.client.is_connected()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> Any:
        return self.client.publish(topic, payload, qos=1, retain=retain)

    def set_camera_status(self, camera: str, status: dict[str, Any]) -> None:
        """Retained status of one camera; re-sent after every reconnect."""
        with self._lock:
            self._camera_status[camera] = status
        if self.connected:
            self._publish_status(camera, status)

    def set_storage_status(self, status: dict[str, Any]) -> None:
        """Retained storage alarm of the node (`storage_topic`); re-sent after every
        reconnect. `{"alarm": false, ...}` clears it."""
        with self._lock:
            self._storage = status
        if self.connected:
            self._publish_storage(status)

    def set_zone_occupancy(self, camera: str, zone: str, occupancy: dict[str, Any]) -> None:
        """Retained people count of one zone (`zone_occupancy_topic`); re-sent after every
        reconnect."""
        with self._lock:
            self._zones[(camera, zone)] = occupancy
        if self.connected:
            self._publish_zone(camera, zone, occupancy)

    def _publish_zone(self, camera: str, zone: str, occupancy: dict[str, Any]) -> None:
        topic = zone_occupancy_topic(self.cfg.topic_prefix, self.site, camera, zone)
        self.publish(topic, json.dumps(occupancy, sort_keys=True), retain=True)

    def _publish_storage(self, status: dict[str, Any]) -> None:
        topic = storage_topic(self.cfg.topic_prefix, self.site)
        self.publish(topic, json.dumps(status, sort_keys=True), retain=True)

    def _publish_status(self, camera: str, status: dict[str, Any]) -> None:
        topic = camera_status_topic(self.cfg.topic_prefix, self.site, camera)
        self.publish(topic, json.dumps(status, sort_keys=True), retain=True)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s:%s refused us: %s", self.cfg.host, self.cfg.port, reason)
            return
        log.info("MQTT connected to %s:%s", self.cfg.host, self.cfg.port)
        self.publish(site_status_topic(self.cfg.topic_prefix, self.site), "online", retain=True)
        if self.cfg.ha_discovery:
            found = discovery_messages(self.cfg, self.site, self.cameras, self.recognising)
            for topic, payload in found:
                body = b"" if payload is None else json.dumps(payload, sort_keys=True)
                self.publish(topic, body, retain=True)
        with self._lock:
            statuses = list(self._camera_status.items())
            storage = self._storage
            zones = list(self._zones.items())
        for camera, status in statuses:
            self._publish_status(camera, status)
        for (camera, zone), occupancy in zones:
            self._publish_zone(camera, zone, occupancy)
        if storage is not None:
            self._publish_storage(storage)
        self._connected.set()
        self._on_change()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._connected.is_set():
            log.warning("MQTT disconnected from %s:%s: %s", self.cfg.host, self.cfg.port, reason)
        self._connected.clear()
