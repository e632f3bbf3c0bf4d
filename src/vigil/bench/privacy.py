"""Audit log cost: one `AuditLog.record` per call at a paced 1,000 records/s on SQLite.

The baseline, in the same run and the same database, inserts the same row into a plain table
(one transaction each, no chain lock, no head lookup, no hash, no checkpoint), so the
difference is what tamper evidence costs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, Text, insert

from vigil.bench.report import Figure
from vigil.privacy.audit import Action, AuditLog
from vigil.store.base import UTCDateTime, utcnow
from vigil.store.db import Database

_plain = Table(
    "bench_plain_records",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("time", UTCDateTime),
    Column("actor", String(200)),
    Column("action", String(40)),
    Column("camera", String(100)),
    Column("person", String(200)),
    Column("reason", Text),
    Column("source", String(200)),
    Column("details", JSON),
)


def _paced(n: int, rate: float, call: Callable[[int], None]) -> tuple[np.ndarray, float]:
    """Call `call(i)` n times at `rate` a second; (seconds each call took, achieved rate)."""
    took = np.empty(n)
    start = time.perf_counter()
    for i in range(n):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        t0 = time.perf_counter()
        call(i)
        took[i] = time.perf_counter() - t0
    return took, n / (time.perf_counter() - start)


def _flat_out(seconds: float, call: Callable[[int], None]) -> float:
    """Calls a second, one after the other, for `seconds`."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call(n)
        n += 1
    return n / (time.perf_counter() - start)


def run(records: int = 3000, rate: float = 1000.0) -> tuple[list[Figure], dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = Database(f"sqlite:///{folder / 'bench.db'}")
        try:
            _plain.create(db.engine)
            audit = AuditLog(folder, checkpoint_every=1000)

            def audited(i: int) -> None:
                audit.record(
                    db,
                    actor="operator",
                    action=Action.view_recording,
                    source="bench",
                    camera="gate",
                    person=i % 50,
                    details={"segment": f"gate/2026-11-28/{i:06d}.mp4"},
                )

            def plain(i: int) -> None:
                with db.session() as s:
                    s.execute(
                        insert(_plain).values(
                            time=utcnow(),
                            actor="operator",
                            action="view_recording",
                            camera="gate",
                            person=str(i % 50),
                            reason="",
                            source="bench",
                            details={"segment": f"gate/2026-11-28/{i:06d}.mp4"},
                        )
                    )

            for i in range(100):  # warm up: key creation, statement caches, page cache
                audited(i)
                plain(i)
            audit_t, audit_rate = _paced(records, rate, audited)
            plain_t, plain_rate = _paced(records, rate, plain)
            audit_max = _flat_out(1.0, audited)
            plain_max = _flat_out(1.0, plain)
            t0 = time.perf_counter()
            report = audit.verify(db)
            verify_rate = report.records / (time.perf_counter() - t0)
            if not report.ok:
                raise RuntimeError(f"bench chain does not verify: {report.problems[0].message}")
        finally:
            db.close()

    base = f"plain insert, paced {rate:,.0f}/s"
    figures = [
        Figure(
            "audit record, mean", audit_t.mean() * 1e3, "ms", 1.0, False, plain_t.mean() * 1e3, base
        ),
        Figure(
            "audit record, p99",
            float(np.percentile(audit_t, 99)) * 1e3,
            "ms",
            None,
            False,
            float(np.percentile(plain_t, 99)) * 1e3,
            base,
        ),
        Figure("paced rate achieved", audit_rate, "records/s", rate, True, plain_rate, base),
        Figure(
            "flat-out appends",
            audit_max,
            "records/s",
            None,
            True,
            plain_max,
            "plain insert, flat out",
        ),
        Figure("verify speed", verify_rate, "records/s"),
    ]
    extra = {
        "records": float(records),
        "added_ms": (audit_t.mean() - plain_t.mean()) * 1e3,
        "checkpoints": float(report.checkpoints),
    }
    return figures, extra


def _bench_clip(path: Path, faces_dir: Path | None, seconds: float, fps: int) -> None:
    """A 1080p clip with two faces drifting across (the test photos, else a drawn pair)."""
    import cv2

    from vigil.vision.video import Mp4Writer

    photos = []
    for name in ("obama.jpg", "biden.jpg"):
        img = cv2.imread(str(faces_dir / name)) if faces_dir else None
        if img is None:
            img = np.full((400, 300, 3), 160, np.uint8)
        photos.append(cv2.resize(img, (round(img.shape[1] * 420 / img.shape[0]), 420)))
    bg = np.random.default_rng(0).integers(60, 120, (1080, 1920, 3), dtype=np.uint8)
    with Mp4Writer(path, fps) as w:
        for i in range(round(seconds * fps)):
            frame = bg.copy()
            a, b = photos
            frame[300 : 300 + 420, 200 + 2 * i : 200 + 2 * i + a.shape[1]] = a
            x = 1700 - b.shape[1] - 2 * i
            frame[320 : 320 + 420, x : x + b.shape[1]] = b
            w.write(frame)


def run_redaction(
    seconds: float = 4.0, fps: int = 25, every: int = 5, faces_dir: Path | None = None
) -> tuple[list[Figure], dict[str, float]]:
    """1080p redaction on one core: detection every Nth frame (with carry-over) beside
    detection on every frame, in the same run on the same clip. Keep-none (no embedding)."""
    import cv2

    from vigil.config import FacesConfig
    from vigil.faces.engine import FaceEngine
    from vigil.privacy.redaction import redact_clip

    threads_before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        engine = FaceEngine(FacesConfig(threads=1))
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in.mp4"
            _bench_clip(src, faces_dir, seconds, fps)
            runs = {}
            for n in (every, 1):
                runs[n] = redact_clip(
                    src, Path(tmp) / f"out{n}.mp4", engine, detect_every=n, threads=1
                )
    finally:
        cv2.setNumThreads(threads_before)
    nth, each = runs[every], runs[1]
    base = "detection on every frame"
    figures = [
        Figure(
            f"1080p redaction, detect every {every}th frame (1 core)",
            nth.speed,
            "x real time",
            1.0,
            True,
            each.speed,
            base,
        ),
        Figure(
            "1080p redaction, per frame",
            nth.seconds / nth.frames * 1e3,
            "ms",
            1e3 / fps,
            False,
            each.seconds / each.frames * 1e3,
            base,
        ),
    ]
    return figures, {"frames": float(nth.frames), "faces_redacted": float(each.faces_redacted)}
