"""Unknown faces: found again by a similar face, and gone after their retention period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from vigil.faces.engine import FaceEngine
from vigil.faces.sightings import add_unknown, purge_unknown, search_unknown
from vigil.store.db import Database
from vigil.store.models import UnknownFace
from vigil.vision.image import load_image


def test_find_and_purge(data_dir: Path, engine: FaceEngine, faces_dir: Path) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    now = datetime.now(UTC)

    def vec(name: str):
        return engine.single_face(load_image(faces_dir / name), name).embedding

    add_unknown(
        db,
        event_uid="a",
        camera="door",
        seen_at=now - timedelta(days=1),
        embedding=vec("obama.jpg"),
        model=engine.model_name,
    )
    add_unknown(
        db,
        event_uid="b",
        camera="gate",
        seen_at=now - timedelta(days=9),
        embedding=vec("obama2.jpg"),
        model=engine.model_name,
    )
    add_unknown(
        db,
        event_uid="c",
        camera="door",
        seen_at=now,
        embedding=vec("biden.jpg"),
        model=engine.model_name,
    )
    hits = search_unknown(db, vec("obama3.jpg"), model=engine.model_name, threshold=0.363)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert {h.event_uid for h in hits} == {"a", "b"}
    assert purge_unknown(db, now - timedelta(days=7)) == 1
    with db.session() as s:
        assert s.scalar(select(func.count(UnknownFace.id))) == 2
    hits = search_unknown(db, vec("obama3.jpg"), model=engine.model_name, threshold=0.363)
    assert [h.event_uid for h in hits] == ["a"]
