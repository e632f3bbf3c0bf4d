"""Enrolment is all-or-nothing, carries its legal basis, and removal really deletes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from vigil.errors import InputError, NotFoundError
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, check_photos
from vigil.store.db import Database
from vigil.store.models import LegalBasis, Person, Template
from vigil.vision.image import load_image


@pytest.fixture
def gallery(data_dir: Path, engine: FaceEngine) -> Gallery:
    return Gallery(Database(f"sqlite:///{data_dir / 'vigil.db'}"), engine.model_name)


def count(g: Gallery, table: type) -> int:
    with g.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_knn_gallery_identifies_every_probe(
    gallery: Gallery, engine: FaceEngine, faces_dir: Path
) -> None:
    for person in sorted((faces_dir / "people").iterdir()):
        photos = check_photos(engine, sorted(person.iterdir()))
        gallery.enroll(person.name, photos, legal_basis=LegalBasis.consent, enrolled_by="test")
    matcher = gallery.matcher(Calibration.default(engine.model_name))
    expected = {
        "eileen_collins1.jpg": {"eileen_collins"},
        "obama3.jpg": {"obama"},  # a photo of Obama the gallery does not hold
        "obama_and_biden.jpg": {"obama", "biden"},  # and Messi, never enrolled
    }
    for probe, who in expected.items():
        obs = engine.analyze(load_image(faces_dir / "probes" / probe))
        names = {m.name for m in matcher.identify([o.embedding for o in obs]) if m.known}
        assert names == who, probe
    # A stranger stays unknown: nobody enrolled is in messi5.jpg.
    obs = engine.analyze(load_image(faces_dir / "messi5.jpg"))
    assert not any(m.known for m in matcher.identify([o.embedding for o in obs]))


def test_enrolment_is_all_or_nothing(gallery: Gallery, engine: FaceEngine, faces_dir: Path) -> None:
    with pytest.raises(InputError, match=r"messi5\.jpg.*closer or larger") as err:
        check_photos(engine, [faces_dir / "obama.jpg", faces_dir / "messi5.jpg"])
    assert "nothing was enrolled" in err.value.message
    assert count(gallery, Person) == 0 and count(gallery, Template) == 0


def test_legal_basis_is_recorded_and_notes_required(
    gallery: Gallery, engine: FaceEngine, faces_dir: Path
) -> None:
    photos = check_photos(engine, [faces_dir / "biden.jpg"])
    with pytest.raises(InputError, match="needs a written note"):
        gallery.enroll("biden", photos, legal_basis=LegalBasis.legitimate_interest, enrolled_by="a")
    assert count(gallery, Person) == 0
    added = gallery.enroll(
        "biden",
        photos,
        legal_basis=LegalBasis.legitimate_interest,
        legal_basis_note="staff access control",
        enrolled_by="alice",
    )
    assert added == 1
    assert gallery.enroll("biden", photos, legal_basis=LegalBasis.consent, enrolled_by="a") == 0
    with gallery.db.session() as s:
        t = s.scalars(select(Template)).one()
        assert t.legal_basis is LegalBasis.legitimate_interest
        assert t.legal_basis_note == "staff access control" and t.enrolled_by == "alice"
        assert len(t.image_sha256) == 64 and t.model == engine.model_name


def test_remove_deletes_every_template(
    gallery: Gallery, engine: FaceEngine, faces_dir: Path
) -> None:
    photos = check_photos(engine, sorted((faces_dir / "people" / "obama").iterdir()))
    gallery.enroll("obama", photos, legal_basis=LegalBasis.consent, enrolled_by="a")
    assert count(gallery, Template) == 2
    assert gallery.remove("obama") == 2
    assert count(gallery, Person) == 0 and count(gallery, Template) == 0
    with pytest.raises(NotFoundError):
        gallery.remove("obama")


def test_templates_of_another_model_are_not_matched(
    gallery: Gallery, engine: FaceEngine, faces_dir: Path
) -> None:
    photos = check_photos(engine, [faces_dir / "obama.jpg"])
    Gallery(gallery.db, "some-other-model").enroll(
        "obama", photos, legal_basis=LegalBasis.consent, enrolled_by="a"
    )
    assert len(gallery.matcher(Calibration.default(engine.model_name)).index) == 0
