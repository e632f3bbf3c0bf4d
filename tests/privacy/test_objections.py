"""Objection to recognition and withdrawal of consent at one site, from the CLI: the face is
never identified after the objection (photo identification, the live matcher, enrolment);
withdrawal removes the person at once; unknown-face templates are kept only when opted in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from vigil.config import VigilConfig
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, MatcherCache
from vigil.faces.objections import list_objections
from vigil.faces.sightings import add_unknown
from vigil.node import EdgeNode
from vigil.notify.dispatcher import Dispatcher
from vigil.pipeline.analyzer import EventDraft
from vigil.pipeline.service import _NoMatcher
from vigil.privacy.audit import AuditLog
from vigil.privacy.sar import subject_access
from vigil.store.db import Database
from vigil.store.models import Objection, Person, Template, UnknownFace


def _vec(engine: FaceEngine, path: Path) -> np.ndarray:
    import cv2

    face = engine.single_face(cv2.imread(str(path)), path.name)
    assert face.embedding is not None
    return face.embedding


def _count(db: Database, column: object) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count(column))) or 0)  # type: ignore[call-overload]


def test_an_objector_is_never_identified_at_the_site(
    cli, db: Database, data_dir: Path, engine: FaceEngine, faces_dir: Path, tmp_path: Path
) -> None:
    code, _, err = cli("faces", "enroll", "obama", faces_dir / "obama.jpg", "-l", "consent")
    assert code == 0, err
    live = MatcherCache(  # what the pipeline's analysis uses, reloaded on changes
        Gallery(db, engine.model_name), Calibration.default(engine.model_name), check_every_s=0
    )
    obama, biden = _vec(engine, faces_dir / "obama2.jpg"), _vec(engine, faces_dir / "biden.jpg")
    assert live.get().identify([obama])[0].name == "obama"
    blind = _NoMatcher(live.calibration, live)  # cameras with recognition off
    assert not blind.get().identify([obama])[0].objected
    now = datetime.now(UTC)
    for uid, vec in (("seen-obama", _vec(engine, faces_dir / "obama3.jpg")), ("seen-biden", biden)):
        add_unknown(
            db, event_uid=uid, camera="door", seen_at=now, embedding=vec, model=engine.model_name
        )

    # no reason: refused, nothing kept
    code, _, err = cli("privacy", "object", "--photo", faces_dir / "obama3.jpg", "--reason", " ")
    assert code != 0 and "reason" in err and list_objections(db) == []
    code, out, err = cli(
        "privacy", "object", "--photo", faces_dir / "obama3.jpg",
        "--reason", "objected in person at reception", "--reference", "OBJ-12", "--json",
    )  # fmt: skip
    assert code == 0, err
    info = json.loads(out)
    assert info["enrolled_withheld"] == ["obama"] and info["unknown_faces_deleted"] == 1
    with db.session() as s:  # what is kept: a template, who, when, why; no photo, no name
        [row] = s.scalars(select(Objection))
        assert len(row.embedding) == 4 * 128 and row.reference == "OBJ-12"
        assert row.recorded_by and row.origin_site is None
        assert [u.event_uid for u in s.scalars(select(UnknownFace))] == ["seen-biden"]
    [rec] = AuditLog(data_dir).query(db, action="objection_recorded")
    assert rec.reason == "objected in person at reception" and rec.target_id == row.uid
    assert rec.details["reference"] == "OBJ-12" and rec.person is None

    # the live matcher: withheld, even though obama is enrolled and scores above the threshold
    withheld, other = live.get().identify([obama, biden])
    assert withheld.objected and withheld.name is None and withheld.person_id is None
    assert withheld.score == -1.0 and withheld.confidence == 0.0  # nothing about who it is
    assert not other.objected and not other.known
    # a camera without recognition names nobody, and keeps no unknown template of him either
    assert [m.objected for m in blind.get().identify([obama, biden])] == [True, False]
    # identification of a photo
    code, out, err = cli("faces", "identify", faces_dir / "obama2.jpg", "-r", "case 4", "--json")
    assert code == 0, err
    [face] = json.loads(out)["faces"]
    assert face["person"] is None and face["objection"] is True and face["known"] is False
    # enrolment of a photo of the objector: refused, nothing stored
    code, _, err = cli("faces", "enroll", "B. Obama", faces_dir / "obama2.jpg", "-l", "consent")
    assert code != 0 and "objected to being recognised" in err
    assert _count(db, Person.id) == 1
    code, out, _ = cli("privacy", "objections", "--json")
    assert [o["reference"] for o in json.loads(out)] == ["OBJ-12"]

    # a subject-access request of the objector finds the objection and says what is kept
    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(data_dir)}})
    import cv2

    sar = subject_access(
        db, cfg, engine, cv2.imread(str(faces_dir / "obama2.jpg")),
        reason="request 3", actor="dpo", out=tmp_path / "sar.zip",
    )  # fmt: skip
    assert [o.uid for o in sar.objections] == [row.uid]
    assert "Your objection to face recognition, recorded on" in sar.report
    assert "(reference OBJ-12)" in sar.report and "as long as the objection stands" in sar.report
    assert "none is kept for faces that match nobody" in sar.report


def test_withdrawal_of_consent_removes_at_once(
    cli, db: Database, data_dir: Path, faces_dir: Path
) -> None:
    photos = (faces_dir / "obama.jpg", faces_dir / "obama2.jpg")
    code, _, err = cli("faces", "enroll", "obama", *photos, "-l", "consent")
    assert code == 0, err
    code, _, err = cli("faces", "withdraw", "obama", "--reason", "  ")
    assert code != 0 and "reason" in err and _count(db, Template.id) == 2
    code, out, err = cli("faces", "withdraw", "obama", "--reason", "withdrew by letter 2026-12-05")
    assert code == 0 and "2 template(s)" in out, err
    assert _count(db, Person.id) == 0 and _count(db, Template.id) == 0
    [rec] = AuditLog(data_dir).query(db, action="consent_withdrawn")
    assert rec.reason == "withdrew by letter 2026-12-05" and rec.details["templates"] == 2
    assert not AuditLog(data_dir).query(db, action="remove_person")
    code, _, err = cli("faces", "withdraw", "obama", "--reason", "again please")
    assert code != 0 and "no enrolled person" in err


def _draft(vec: np.ndarray) -> EventDraft:
    t = datetime.now(UTC).timestamp()
    return EventDraft("door", "face", t, t + 1, 1, [], None, embedding=vec)


def test_unknown_face_templates_only_when_opted_in(data_dir: Path, engine: FaceEngine) -> None:
    vec = np.ones(128, np.float32) / np.sqrt(128)
    base = {"storage": {"data_dir": str(data_dir)}}
    with pytest.raises(ValueError, match="unknown_faces_purpose"):
        VigilConfig.model_validate({**base, "privacy": {"unknown_face_retention_days": 2}})
    opted = {"unknown_face_retention_days": 2, "unknown_faces_purpose": "find a face again"}
    kept = []
    for privacy in ({}, opted):
        db = Database(f"sqlite:///{data_dir / f'{len(kept)}.db'}")
        cfg = VigilConfig.model_validate({**base, "privacy": privacy})
        node = EdgeNode(cfg, db, engine)
        node.dispatcher = Dispatcher(db, cfg)  # not started: store_event only rings its bell
        node.store_event(_draft(vec))
        kept.append(_count(db, UnknownFace.id))
        node._purge_unknown_faces()  # the default keeps none, and deletes any left from before
        kept.append(_count(db, UnknownFace.id))
        db.close()
    assert kept == [0, 0, 1, 1]
