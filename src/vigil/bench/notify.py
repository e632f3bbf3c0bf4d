"""MQTT notification latency: `create_event` to message received, on a loopback broker.

The baseline is a bare paho publish to the same broker in the same run, so the difference
is what the event store, the outbox and the dispatcher add.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.bench.report import Figure
from vigil.config import VigilConfig
from vigil.events.store import Routing, create_event
from vigil.notify.broker import Mosquitto
from vigil.notify.dispatcher import Dispatcher
from vigil.notify.payload import encode
from vigil.store.db import Database


class Subscriber:
    """Receive times by uid, from a subscriber on its own paho thread."""

    def __init__(self, port: int) -> None:
        self.seen: dict[str, float] = {}
        self.cond = threading.Condition()
        ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vigil-bench-sub")
        self.c.on_connect = lambda c, *_: c.subscribe([("vigil/#", 1), ("bench/#", 1)])
        self.c.on_subscribe = lambda *_: ready.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if not ready.wait(5):
            raise RuntimeError("bench subscriber could not subscribe")

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        t = time.perf_counter()
        if m.topic.startswith("bench/"):
            uid = m.payload.split(b"|", 1)[0].decode()
        elif "/events/" in m.topic:
            uid = m.payload.split(b'"uid":"', 1)[1].split(b'"', 1)[0].decode()
        else:
            return
        with self.cond:
            self.seen[uid] = t
            self.cond.notify_all()

    def wait(self, uid: str, timeout: float = 5.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: uid in self.seen, timeout):
                raise RuntimeError(f"message {uid} never arrived")
            return self.seen[uid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _percentiles(ms: list[float]) -> tuple[float, float]:
    p50, p90 = np.percentile(np.array(ms), [50, 90])
    return float(p50), float(p90)


def measure(events: int = 200, folder: Path | None = None) -> dict[str, float]:
    """p50/p90 milliseconds: event store -> MQTT subscriber, and a bare paho publish."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        root = Path(tmp)
        broker = Mosquitto(root / "broker")
        broker.start()
        db = Database(f"sqlite:///{root / 'vigil.db'}")
        cfg = VigilConfig.model_validate(
            {
                "site": {"name": "bench"},
                "cameras": [{"name": "cam", "url": "x.mp4"}],
                "notify": {"mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker.port}},
            }
        )
        clock = Subscriber(broker.port)
        dispatcher = Dispatcher(db, cfg)
        raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vigil-bench-pub")
        try:
            dispatcher.start()
            assert dispatcher.mqtt is not None
            if not dispatcher.mqtt.wait_connected(5):
                raise RuntimeError("dispatcher could not connect to the bench broker")
            routing = Routing.from_config(cfg)
            store_ms = []
            for i in range(events + 10):  # the first 10 warm up
                t0 = time.perf_counter()
                e = create_event(
                    db,
                    camera="cam",
                    kind="person",
                    start=datetime.now(UTC),
                    routing=routing,
                    wake=dispatcher.wake,
                )
                if i >= 10:
                    store_ms.append((clock.wait(e.uid) - t0) * 1000)
                else:
                    clock.wait(e.uid)
            raw.connect("127.0.0.1", broker.port)
            raw.loop_start()
            pad = b"|" + encode({"pad": "x" * 300})  # about an event's size
            raw_ms = []
            for i in range(events):
                key = f"raw-{i}"
                t0 = time.perf_counter()
                raw.publish(f"bench/{key}", key.encode() + pad, qos=1)
                raw_ms.append((clock.wait(key) - t0) * 1000)
        finally:
            raw.disconnect()
            raw.loop_stop()
            dispatcher.stop()
            clock.close()
            db.close()
            broker.stop()
    s50, s90 = _percentiles(store_ms)
    r50, r90 = _percentiles(raw_ms)
    return {"events": events, "p50_ms": s50, "p90_ms": s90, "raw_p50_ms": r50, "raw_p90_ms": r90}


def run(events: int = 200) -> list[Figure]:
    m = measure(events)
    return [
        Figure(
            "MQTT p50, create_event->subscriber",
            m["p50_ms"],
            "ms",
            higher_is_better=False,
            baseline=m["raw_p50_ms"],
            baseline_name="bare publish",
        ),
        Figure(
            "MQTT p90, create_event->subscriber",
            m["p90_ms"],
            "ms",
            higher_is_better=False,
            baseline=m["raw_p90_ms"],
            baseline_name="bare publish",
        ),
    ]
