"""`vigil serve` end to end: a camera is recorded and analysed, a known person becomes a stored
event, and SIGTERM stops everything cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from tests.camera.conftest import wait_for
from vigil.api import accounts
from vigil.cli import run
from vigil.demo.assets import door_clip
from vigil.notify.broker import Mosquitto
from vigil.process import free_port
from vigil.store.db import Database
from vigil.store.models import Event, MotionEvent, Segment
from vigil.store.models.users import Role


def test_serve_records_analyses_and_stores_events(tmp_path: Path, faces_dir: Path, capsys) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    messages: dict[str, list[bytes]] = {}
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-serve-sub")
    sub.on_connect = lambda c, *_: c.subscribe("vigil/#", qos=1)
    sub.on_message = lambda _c, _u, m: messages.setdefault(m.topic, []).append(m.payload)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    obama = cv2.imread(str(faces_dir / "obama2.jpg"))
    clip = door_clip(tmp_path / "door.mp4", obama[100:700, 150:650], None)
    data = tmp_path / "var"
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "site": {"name": "test site"},
                "storage": {"data_dir": str(data)},
                "notify": {"mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker.port}},
                "privacy": {
                    "face_recognition_enabled": True,
                    "face_recognition_purpose": "test: recognise the enrolled person",
                    "legal_basis": "consent",
                },
                "cameras": [
                    {
                        "name": "door",
                        "url": str(clip),
                        "loop": True,
                        "segment_seconds": 4,
                        "purpose": "test: recognise the enrolled person at the door",
                        "field_of_view": "a door, from a sample clip",
                        "publicly_accessible": False,
                    }
                ],
            }
        )
    )
    assert (
        run(
            [
                "-c",
                str(cfg),
                "faces",
                "enroll",
                "obama",
                str(faces_dir / "obama.jpg"),
                "-l",
                "consent",
            ]
        )
        == 0
    )
    db = Database(f"sqlite:///{data / 'vigil.db'}")
    accounts.create_user(db, "admin", "a long test password", Role.admin, created_by="test")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "-c", str(cfg), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 60
        known = []
        while time.monotonic() < deadline and proc.poll() is None:
            with db.session() as s:
                known = s.scalars(select(Event).where(Event.kind == "known_person")).all()
                segments = s.scalars(select(Segment)).all()
            if known and len(segments) >= 2:
                break
            time.sleep(1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert known, "no known_person event stored"
        assert known[0].person_id is not None and known[0].confidence > 0.9
        assert known[0].snapshot and (data / known[0].snapshot).is_file()
        assert len(segments) >= 2
        with db.session() as s:
            assert s.scalars(select(MotionEvent)).first() is not None, "no motion event stored"
        # The web UI serves the live frame that analysis published (no decoder of its own).
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            assert web.get("/api/v1/health").status_code == 200
            assert web.get("/api/v1/cameras/door/snapshot.jpg").status_code == 401
            login = web.post(
                "/api/v1/auth/login",
                json={"username": "admin", "password": "a long test password"},
            )
            assert login.status_code == 200, login.text
            snap = web.get("/api/v1/cameras/door/snapshot.jpg")
            assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"

            # A privacy mask saved from the UI goes into vigil.yaml and the running analysis.
            def left_half_black() -> bool:
                jpeg = web.get("/api/v1/cameras/door/snapshot.jpg").content
                img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
                w = img.shape[1]
                return img[:, : w // 2 - 4].mean() < 2 and img[:, w // 2 + 4 :].mean() > 10

            assert not left_half_black()
            web.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            etag = web.get("/api/v1/cameras/door/zones").json()["etag"]
            left = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
            r = web.put("/api/v1/cameras/door/zones", json={"etag": etag, "privacy_masks": [left]})
            assert r.status_code == 200, r.text
            assert yaml.safe_load(cfg.read_text())["cameras"][0]["privacy_masks"] == [left]
            assert wait_for(left_half_black, 10), "the live view does not show the new mask"
        # Notifications: the known person on MQTT, and the camera's retained status.
        assert wait_for(lambda: any("known_person" in t for t in messages), 15), messages.keys()
        known_msgs = next(v for t, v in messages.items() if t.endswith("/door/known_person"))
        assert json.loads(known_msgs[0])["person"]["name"] == "obama"
        status = messages["vigil/test_site/cameras/door/status"]
        assert json.loads(status[-1])["state"] in ("recording", "online", "starting")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        sub.loop_stop()
        sub.disconnect()
        broker.stop()
    assert proc.returncode == 0, err
    assert "serving" in out and "Traceback" not in err
