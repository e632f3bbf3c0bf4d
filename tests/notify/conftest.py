"""A real Mosquitto broker, a database and an MQTT subscriber for the notification tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from vigil.config import VigilConfig
from vigil.notify.broker import Mosquitto, mosquitto_path
from vigil.store.db import Database
from vigil.store.models.faces import Person

# A camera's record: without it a camera set to recognise faces does not (decision 0064).
RECORD = {"purpose": "test", "field_of_view": "test scene", "publicly_accessible": False}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'vigil.db'}")
    yield d
    d.close()


def add_person(db: Database, name: str) -> int:
    with db.session() as s:
        p = Person(name=name, created_by="test")
        s.add(p)
        s.flush()
        return p.id


def make_config(
    *, mqtt_port: int | None = None, webhooks: list[dict] | None = None, recognise: bool = True
) -> VigilConfig:
    """Two cameras, gate and hall; `recognise=False` switches face recognition off site-wide."""
    return VigilConfig.model_validate(
        {
            "site": {"name": "Test Site"},
            "privacy": {"face_recognition_enabled": recognise, "legal_basis": "consent"},
            "cameras": [
                {"name": "gate", "url": "a.mp4", **RECORD},
                {"name": "hall", "url": "b.mp4", **RECORD},
            ],
            "notify": {
                "mqtt": {
                    "enabled": mqtt_port is not None,
                    "host": "127.0.0.1",
                    "port": mqtt_port or 1883,
                    "client_id": "vigil-test",
                },
                "webhooks": webhooks or [],
                "retry_min_s": 0.1,
                "retry_max_s": 1.0,
            },
        }
    )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto not installed (scripts/system-deps.sh test)")
    b = Mosquitto(tmp_path / "broker", persistence=True)
    b.start()
    yield b
    b.stop()


@dataclass
class Msg:
    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client with a persistent session that records every message it gets."""

    def __init__(self, port: int, topics: list[str], client_id: str = "test-sub") -> None:
        self.messages: list[Msg] = []
        self.cond = threading.Condition()
        self.subscribed = threading.Event()
        self.topics = topics
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda *_: self.subscribed.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.subscribed.wait(5), "subscriber never subscribed"

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(Msg(m.topic, m.payload, bool(m.retain), time.perf_counter()))
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[list[Msg]], bool], timeout: float = 10) -> list[Msg]:
        with self.cond:
            ok = self.cond.wait_for(lambda: pred(self.messages), timeout)
            assert ok, f"timed out; got {[(m.topic, m.payload[:80]) for m in self.messages]}"
            return list(self.messages)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(port: int, topics: list[str], client_id: str = "test-sub") -> Subscriber:
        s = Subscriber(port, topics, client_id)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
