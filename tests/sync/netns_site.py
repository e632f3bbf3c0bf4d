"""Processes the network-namespace tests run inside a namespace (`ip netns exec ...`).

- `site CONFIG`: the parts of `vigil serve` that record and deliver: recording of the
  configured cameras, the notification dispatcher (MQTT to the site's own broker) and
  `EdgeSync` (the site's nats-server, a leaf of the hub, and the publisher); no analysis:
  events are written into the site's database by the test.
- `broker PORT FOLDER`: the site's own Mosquitto on 127.0.0.1:PORT.
- `listen PORT OUT`: a local alarm panel: subscribes to everything on that broker and appends
  each message as a JSON line to OUT.

Each runs until SIGTERM (or SIGKILL, which is the point of some tests).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path


def _wait_for_term() -> None:
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(1):
        pass


def run_site(config_path: str) -> None:
    from vigil.camera.recorder import RecorderOptions, RecordingService
    from vigil.config import load_config
    from vigil.notify.dispatcher import Dispatcher
    from vigil.store.db import Database
    from vigil.sync.edge_agent import EdgeSync

    cfg = load_config(Path(config_path))
    db = Database(cfg.storage.resolved_database_url())
    data_dir = Path(cfg.storage.data_dir)
    recording = RecordingService(cfg.cameras, data_dir, db, RecorderOptions())
    recording.start()
    dispatcher = Dispatcher(db, cfg, poll_s=0.3)
    dispatcher.start()
    sync = EdgeSync(cfg, db, data_dir, poll_s=0.3)
    sync.start()
    print("site ready", flush=True)
    try:
        _wait_for_term()
    finally:
        sync.stop()
        dispatcher.stop()
        recording.stop()
        db.close()


def run_broker(port: str, folder: str) -> None:
    from vigil.notify.broker import Mosquitto

    with Mosquitto(Path(folder), int(port)):
        print("broker ready", flush=True)
        _wait_for_term()


def run_listener(port: str, out: str) -> None:
    import paho.mqtt.client as mqtt

    lock = threading.Lock()
    sink = open(out, "a", encoding="utf-8")  # noqa: SIM115 (open for the process's life)

    def on_connect(client, _userdata, _flags, _rc, _props=None):  # type: ignore[no-untyped-def]
        client.subscribe("#", qos=1)

    def on_subscribe(*_args):  # type: ignore[no-untyped-def]
        print("listener ready", flush=True)

    def on_message(_client, _userdata, msg):  # type: ignore[no-untyped-def]
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = None
        with lock:
            sink.write(json.dumps({"topic": msg.topic, "body": body}) + "\n")
            sink.flush()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alarm-panel")
    client.on_connect = on_connect
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.connect_async("127.0.0.1", int(port))  # retried until the broker is up
    client.loop_start()
    try:
        _wait_for_term()
    finally:
        client.loop_stop()
        sink.close()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"site": run_site, "broker": run_broker, "listen": run_listener}[mode](*args)
