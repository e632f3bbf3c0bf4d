"""Frame to MQTT: from the frame in which a known person is recognised to the MQTT message.

A door-camera clip (the demo's known person walking past, looped) is analysed frame by frame
as a live camera would be, the analyzer's announcement is stored with its outbox row, the
dispatcher publishes it to a real Mosquitto on loopback, and a subscriber notes when it
arrives. Beside it: the share of that time spent analysing the frame itself.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vigil.bench.notify import Subscriber
from vigil.camera.motion import MotionDetector
from vigil.camera.source import analysis_frames
from vigil.config import VigilConfig
from vigil.demo.assets import astronaut_photo, door_clip
from vigil.events.store import Routing, store_draft
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, check_photos
from vigil.notify.broker import Mosquitto
from vigil.notify.dispatcher import Dispatcher
from vigil.pipeline.analyzer import CameraAnalyzer
from vigil.store.db import Database
from vigil.store.models import LegalBasis
from vigil.vision.person import HogPersonDetector


def measure(passes: int = 12) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photo = astronaut_photo()
        cv2.imwrite(str(root / "known.png"), photo)
        clip = door_clip(root / "door.mp4", photo[0:260, 140:380], None)
        frames = [f.image for f in analysis_frames(str(clip), fps=5, reconnect=False, pace=False)]
        broker = Mosquitto(root / "broker")
        broker.start()
        cfg = VigilConfig.model_validate(
            {
                "site": {"name": "bench"},
                "storage": {"data_dir": str(root)},
                "cameras": [{"name": "door", "url": str(clip)}],
                "notify": {"mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker.port}},
            }
        )
        db = Database(f"sqlite:///{root / 'vigil.db'}")
        engine = FaceEngine()
        gallery = Gallery(db, engine.model_name)
        gallery.enroll(
            "known",
            check_photos(engine, [root / "known.png"]),
            legal_basis=LegalBasis.consent,
            enrolled_by="bench",
        )
        analyzer = CameraAnalyzer(
            "door",
            engine,
            gallery.matcher(Calibration.default(engine.model_name)),
            HogPersonDetector(),
            MotionDetector(),
        )
        subscriber = Subscriber(broker.port)
        dispatcher = Dispatcher(db, cfg)
        routing = Routing.from_config(cfg)
        total_ms, analysis_ms = [], []
        try:
            dispatcher.start()
            assert dispatcher.mqtt is not None and dispatcher.mqtt.wait_connected(5)
            for _ in range(passes):
                for image in frames:
                    t_wall, t0 = time.time(), time.perf_counter()
                    drafts = analyzer.process(image, t_wall)
                    t1 = time.perf_counter()
                    for d in drafts:
                        event = store_draft(
                            db, d, data_dir=root, routing=routing, wake=dispatcher.wake
                        )
                        if not d.final:  # an announcement: measure until it is received
                            total_ms.append((subscriber.wait(event.uid) - t0) * 1000)
                            analysis_ms.append((t1 - t0) * 1000)
        finally:
            dispatcher.stop()
            subscriber.close()
            db.close()
            broker.stop()
    if not total_ms:
        raise RuntimeError("the known person was never announced")
    return {
        "samples": len(total_ms),
        "p50_ms": float(np.percentile(total_ms, 50)),
        "p90_ms": float(np.percentile(total_ms, 90)),
        "analysis_p90_ms": float(np.percentile(analysis_ms, 90)),
    }
