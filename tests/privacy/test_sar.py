"""Subject-access request and the privacy CLI (redact, verify, sar, status, retention)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from vigil.events.store import create_event
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, check_photos
from vigil.faces.sightings import add_unknown
from vigil.privacy.audit import AuditLog
from vigil.store.models import LegalBasis
from vigil.vision.models import SFACE_COSINE_THRESHOLD
from vigil.vision.video import Mp4Writer


def _jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img)[1].tobytes()


def _side_by_side(a: np.ndarray, b: np.ndarray, h: int = 300) -> np.ndarray:
    a = cv2.resize(a, (round(a.shape[1] * h / a.shape[0]), h))
    b = cv2.resize(b, (round(b.shape[1] * h / b.shape[0]), h))
    frame = np.full((h + 40, a.shape[1] + b.shape[1] + 60, 3), 90, np.uint8)
    frame[20 : 20 + h, 20 : 20 + a.shape[1]] = a
    frame[20 : 20 + h, 40 + a.shape[1] : 40 + a.shape[1] + b.shape[1]] = b
    return frame


def test_subject_access_archive(
    cli, db, data_dir: Path, engine: FaceEngine, faces_dir: Path, tmp_path: Path
) -> None:
    obama = cv2.imread(str(faces_dir / "obama.jpg"))
    biden = cv2.imread(str(faces_dir / "biden.jpg"))
    now = datetime.now(UTC)
    Gallery(db, engine.model_name).enroll(
        "obama",
        check_photos(engine, [faces_dir / "obama2.jpg"]),
        legal_basis=LegalBasis.consent,
        enrolled_by="t",
        review_at=now + timedelta(days=300),
    )
    with db.session() as s:
        from vigil.store.models import Person

        pid = s.query(Person.id).filter_by(name="obama").scalar()
    snap = _jpeg(_side_by_side(obama, biden))
    known = create_event(
        db,
        camera="gate",
        kind="known_person",
        start=now - timedelta(hours=3),
        person_id=pid,
        snapshot_jpeg=snap,
        data_dir=data_dir,
    )
    unnamed = create_event(
        db, camera="door", kind="face", start=now - timedelta(hours=1), snapshot_jpeg=snap,
        data_dir=data_dir,
    )  # fmt: skip
    obs = engine.single_face(obama, "obama")
    add_unknown(
        db,
        event_uid=unnamed.uid,
        camera="door",
        seen_at=unnamed.start,
        embedding=obs.embedding,
        model=engine.model_name,
    )
    stranger = create_event(  # biden only: not part of obama's request
        db, camera="gate", kind="face", start=now - timedelta(hours=2),
        snapshot_jpeg=_jpeg(biden), data_dir=data_dir,
    )  # fmt: skip
    add_unknown(
        db,
        event_uid=stranger.uid,
        camera="gate",
        seen_at=stranger.start,
        embedding=engine.single_face(biden, "biden").embedding,
        model=engine.model_name,
    )

    out = tmp_path / "sar.zip"
    code, text, err = cli(
        "privacy", "sar", faces_dir / "obama3.jpg", "--reason", "request 12", "-o", out, "--json"
    )
    assert code == 0, err
    info = json.loads(text)
    assert info["enrolled_as"] == "obama" and info["events"] == 2 and info["snapshots"] == 2
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        report = z.read("report.txt").decode()
        rows = json.loads(z.read("events.json"))
        pics = [
            cv2.imdecode(np.frombuffer(z.read(n), np.uint8), cv2.IMREAD_COLOR)
            for n in names
            if n.startswith("snapshots/")
        ]
    assert {r["event"] for r in rows} == {known.uid, unnamed.uid}
    assert "enrolled for face recognition" in report and "deleted" in report
    probe_o, probe_b = obs.embedding, engine.single_face(biden, "biden").embedding
    for pic in pics:  # obama stays, biden is pixelated
        found = engine.analyze(pic)
        assert max(float(o.embedding @ probe_o) for o in found) > SFACE_COSINE_THRESHOLD
        assert all(float(o.embedding @ probe_b) < SFACE_COSINE_THRESHOLD for o in found)
    # signed, audited
    code, text, _ = cli("privacy", "verify", info["manifest"])
    assert code == 0 and "intact" in text
    recs = AuditLog(data_dir).query(db, action="subject_access")
    assert recs and recs[-1].reason == "request 12" and recs[-1].person == str(pid)
    # no reason: refused
    code, _, err = cli("privacy", "sar", faces_dir / "obama3.jpg", "--reason", " ", "-o", out)
    assert code != 0 and "reason" in err


def test_cli_redact_verify_status(
    cli, data_dir: Path, faces_dir: Path, tmp_path: Path, engine: FaceEngine
) -> None:
    frame = _side_by_side(
        cv2.imread(str(faces_dir / "obama.jpg")), cv2.imread(str(faces_dir / "biden.jpg"))
    )
    clip = tmp_path / "in.mp4"
    with Mp4Writer(clip, 5) as w:
        for _ in range(5):
            w.write(frame)
    out = tmp_path / "out.mp4"
    code, text, err = cli("privacy", "redact", clip, "-o", out, "--reason", "case 3", "--json")
    assert code == 0, err
    info = json.loads(text)
    assert info["faces_redacted"] >= 2 and info["faces_kept"] == 0
    code, text, _ = cli("privacy", "verify", info["manifest"])
    assert code == 0
    data = bytearray(out.read_bytes())
    data[-100] ^= 0x55
    out.write_bytes(bytes(data))
    code, text, _ = cli("privacy", "verify", info["manifest"])
    assert code == 4 and "SHA-256" in text
    code, text, _ = cli("privacy", "retention", "--json")
    assert code == 0 and "events_deleted" in text
    code, text, _ = cli("privacy", "status")
    assert code == 0 and "review date" in text
