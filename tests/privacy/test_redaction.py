"""Redacted exports: the subject's face stays, the other is pixelated; signed manifests."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vigil.faces.engine import FaceEngine
from vigil.privacy.manifest import manifest_path, verify_manifest, write_manifest
from vigil.privacy.redaction import Subject, redact_clip, redact_image
from vigil.vision.models import SFACE_COSINE_THRESHOLD
from vigil.vision.video import Mp4Writer


def _fit(img: np.ndarray, h: int) -> np.ndarray:
    return cv2.resize(img, (round(img.shape[1] * h / img.shape[0]), h))


@pytest.fixture(scope="module")
def two_faces(faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s, 640x360 clip: obama on the left, biden on the right, drifting a little."""
    obama = _fit(cv2.imread(str(faces_dir / "obama.jpg")), 300)
    biden = _fit(cv2.imread(str(faces_dir / "biden.jpg")), 300)
    path = tmp_path_factory.mktemp("clip") / "two.mp4"
    with Mp4Writer(path, 10) as w:
        for i in range(20):
            frame = np.full((360, 640, 3), 90, np.uint8)
            dx = i
            frame[30 : 30 + 300, 20 + dx : 20 + dx + obama.shape[1]] = obama
            x = 620 - biden.shape[1] - dx
            frame[30 : 30 + 300, x : x + biden.shape[1]] = biden
            w.write(frame)
    return path


def _vec(engine: FaceEngine, path: Path) -> np.ndarray:
    obs = engine.single_face(cv2.imread(str(path)), path.name)
    assert obs.embedding is not None
    return obs.embedding


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def _best(engine: FaceEngine, img: np.ndarray, probe: np.ndarray) -> float:
    obs = engine.analyze(img)
    return max((float(o.embedding @ probe) for o in obs), default=-1.0)


@pytest.mark.parametrize("every", [1, 3])
def test_redacted_clip_keeps_only_the_subject(
    engine: FaceEngine, faces_dir: Path, two_faces: Path, tmp_path: Path, every: int
) -> None:
    obama, biden = _vec(engine, faces_dir / "obama2.jpg"), _vec(engine, faces_dir / "biden.jpg")
    # the source clip has both
    src = _frames(two_faces)
    assert _best(engine, src[5], obama) > SFACE_COSINE_THRESHOLD
    assert _best(engine, src[5], biden) > SFACE_COSINE_THRESHOLD
    before = two_faces.read_bytes()
    subject = Subject.from_vectors("obama", obama[None], SFACE_COSINE_THRESHOLD)
    out = tmp_path / "red.mp4"
    r = redact_clip(two_faces, out, engine, subject=subject, detect_every=every)
    assert two_faces.read_bytes() == before  # the original is never modified
    assert r.frames == 20 and r.faces_kept >= 1 and r.faces_redacted >= 1
    frames = _frames(out)
    assert len(frames) == 20
    for img in frames[::4]:
        assert _best(engine, img, obama) > SFACE_COSINE_THRESHOLD  # the subject stays
        assert _best(engine, img, biden) < SFACE_COSINE_THRESHOLD  # the other is gone
        assert len(engine.detect(img)) == 1


def test_keep_none_and_masks(engine: FaceEngine, two_faces: Path, tmp_path: Path) -> None:
    out = tmp_path / "none.mp4"
    mask = [[(0.0, 0.9), (1.0, 0.9), (1.0, 1.0), (0.0, 1.0)]]
    redact_clip(two_faces, out, engine, subject=None, masks=mask, detect_every=2)
    frames = _frames(out)
    assert all(len(engine.detect(f)) == 0 for f in frames[::5])
    assert frames[3][340:, :].max() < 20  # the masked band is black


def test_redact_image_photo(engine: FaceEngine, faces_dir: Path) -> None:
    img = cv2.imread(str(faces_dir / "two_people.jpg"))
    n = len(engine.detect(img))
    assert n >= 2
    out, d = redact_image(img, engine, None)
    assert len(d.redact) == n and len(engine.detect(out)) == 0
    assert not np.array_equal(out, img)


def test_manifest_signature_and_hashes(data_dir: Path, tmp_path: Path, two_faces: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(two_faces.read_bytes())
    m = write_manifest(data_dir, [clip], kind="clip", actor="alice", reason="case 7", camera="gate")
    assert m == manifest_path(clip)
    assert verify_manifest(m, data_dir=data_dir).ok
    # tamper with the file: the hash check fails
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0xFF
    clip.write_bytes(bytes(data))
    check = verify_manifest(m, data_dir=data_dir)
    assert not check.ok and check.signature_ok and "SHA-256" in check.problems[0]
    # rewrite the manifest to match the tampered file: the signature fails
    clip.write_bytes(two_faces.read_bytes())
    doc = json.loads(m.read_text())
    doc["reason"] = "something else"
    m.write_text(json.dumps(doc))
    check = verify_manifest(m, data_dir=data_dir)
    assert not check.ok and not check.signature_ok
