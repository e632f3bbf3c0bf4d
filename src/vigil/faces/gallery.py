"""The gallery: enrolled people and their templates, stored through SQLAlchemy.

Enrolment is all-or-nothing: every photo is checked first, and nothing is written unless
all pass; a photo of someone who objected to recognition (`faces.objections`) is refused.
Every template records who enrolled it, when, from which image (SHA-256) and on
which legal basis.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.errors import InputError, NotFoundError
from vigil.faces import objections
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine, FaceObservation
from vigil.faces.matcher import Matcher, VectorIndex, make_index
from vigil.store.db import Database
from vigil.store.models import LegalBasis, Person, Template
from vigil.vision.image import load_image, read_bytes

AuditHook = Callable[[Session, int, int], None]  # (session, person id, templates)


@dataclass(frozen=True)
class EnrolmentPhoto:
    label: str
    sha256: str
    observation: FaceObservation


@dataclass(frozen=True)
class PersonSummary:
    id: int
    name: str
    templates: int
    legal_bases: list[str]
    enrolled_at: datetime
    enrolled_by: str


def check_photos(engine: FaceEngine, paths: list[Path]) -> list[EnrolmentPhoto]:
    """Load and judge every photo; raise InputError listing every problem, or return them all."""
    found = check_people(engine, {"": paths})[""]
    if isinstance(found, InputError):
        raise found
    return found


def check_people(
    engine: FaceEngine, people: dict[str, list[Path]]
) -> dict[str, list[EnrolmentPhoto] | InputError]:
    """`check_photos` for each person, all photos at once: decoded and judged on a pool of
    `faces.threads` workers, the accepted faces embedded in one batch (`vigil faces import`)."""
    paths = [p for files in people.values() for p in files]
    engine.load_embedder_meanwhile()
    with ThreadPoolExecutor(max(1, engine.config.threads)) as pool:
        judged = dict(zip(paths, pool.map(lambda p: _judge(engine, p), paths), strict=True))
    accepted = [(p, j) for p, j in judged.items() if isinstance(j, EnrolmentPhoto)]
    crops = [j.observation.crop for _, j in accepted]
    vectors = engine.embed_crops([c for c in crops if c is not None])  # `analyze` aligns all
    for (path, photo), vector in zip(accepted, vectors, strict=True):
        judged[path] = replace(photo, observation=replace(photo.observation, embedding=vector))
    out: dict[str, list[EnrolmentPhoto] | InputError] = {}
    for name, files in people.items():
        problems = [j for j in (judged[p] for p in files) if isinstance(j, str)]
        out[name] = (
            InputError(
                "nothing was enrolled; these photos were refused:\n  " + "\n  ".join(problems),
                hint="fix or drop them and run the command again",
            )
            if problems
            else [j for j in (judged[p] for p in files) if isinstance(j, EnrolmentPhoto)]
        )
    return out


def _judge(engine: FaceEngine, path: Path) -> EnrolmentPhoto | str:
    """The photo's one clear face, not yet embedded, or why it is refused."""
    try:
        data = read_bytes(path)
        obs = engine.single_face(load_image(data, label=str(path)), str(path), embed=False)
    except InputError as exc:
        return str(exc)
    if not obs.quality.ok:
        return f"{path}: " + "; ".join(obs.quality.problems)
    return EnrolmentPhoto(str(path), hashlib.sha256(data).hexdigest(), obs)


def embedding_of(photo: EnrolmentPhoto) -> np.ndarray:
    assert photo.observation.embedding is not None  # `single_face` embeds
    return photo.observation.embedding


def check_legal_basis(basis: LegalBasis, note: str) -> None:
    if basis.needs_note and not note.strip():
        raise InputError(
            f"legal basis {basis.value} needs a written note",
            hint="say why, e.g. --note 'site access control, balancing test ref. 12'",
        )


class Gallery:
    def __init__(self, db: Database, model: str, calibration: Calibration | None = None) -> None:
        self.db = db
        self.model = model
        # its threshold sets the objection threshold enrolment is checked at
        self.calibration = calibration or Calibration.default(model)

    def refuse_objectors(self, s: Session, photos: list[EnrolmentPhoto]) -> None:
        """InputError naming every photo that shows someone who objected to recognition."""
        g = objections.load_guard(
            s, self.model, objections.objection_threshold(self.calibration.threshold)
        )
        if not len(g):
            return
        hit = g.blocks([embedding_of(p) for p in photos])
        refused = [p.label for p, h in zip(photos, hit, strict=True) if h]
        if refused:
            raise InputError(
                "nothing was enrolled: this person objected to being recognised "
                f"(an objection on file matches {', '.join(refused)})",
                hint="an objection wins over an enrolment; it is listed by "
                "`vigil privacy objections`",
            )

    def enroll(
        self,
        name: str,
        photos: list[EnrolmentPhoto],
        *,
        legal_basis: LegalBasis,
        legal_basis_note: str = "",
        enrolled_by: str,
        review_at: datetime | None = None,
        audit: AuditHook | None = None,
    ) -> int:
        """Add the photos' templates to `name` (created if new), in one transaction.

        Returns the number of templates added (a photo already enrolled adds nothing).
        `audit(session, person_id, templates_added)` runs inside the same transaction, so the
        enrolment and its audit record are stored together or not at all.
        """
        name = name.strip()
        if not name:
            raise InputError("a person needs a name")
        if not photos:
            raise InputError("no photos given")
        check_legal_basis(legal_basis, legal_basis_note)
        try:
            with self.db.session() as s:
                self.refuse_objectors(s, photos)
                person = s.scalar(select(Person).where(Person.name == name))
                if person is None:
                    person = Person(name=name, created_by=enrolled_by)
                    s.add(person)
                known = {t.image_sha256 for t in person.templates}
                added = 0
                for p in photos:
                    if p.sha256 in known:
                        continue  # the same photo twice adds nothing
                    known.add(p.sha256)
                    assert p.observation.embedding is not None
                    person.templates.append(
                        Template(
                            embedding=p.observation.embedding.astype(np.float32).tobytes(),
                            model=self.model,
                            image_sha256=p.sha256,
                            quality=p.observation.quality.score,
                            legal_basis=legal_basis,
                            legal_basis_note=legal_basis_note.strip(),
                            enrolled_by=enrolled_by,
                            review_at=review_at,
                        )
                    )
                    added += 1
                s.flush()
                if audit is not None:
                    audit(s, person.id, added)
                return added
        except IntegrityError as exc:  # two enrolments of a new name at once
            raise InputError(f"could not enrol {name!r}: {exc.orig}") from exc

    def people(self) -> list[PersonSummary]:
        with self.db.session() as s:
            rows = s.execute(
                select(
                    Person.id,
                    Person.name,
                    func.count(Template.id),
                    Person.created_at,
                    Person.created_by,
                )
                .outerjoin(Template)
                .group_by(Person.id)
                .order_by(Person.name)
            ).all()
            bases: dict[int, set[str]] = {}
            for pid, basis in s.execute(select(Template.person_id, Template.legal_basis)):
                bases.setdefault(pid, set()).add(basis.value)
        return [
            PersonSummary(pid, name, n, sorted(bases.get(pid, ())), at, by)
            for pid, name, n, at, by in rows
        ]

    def remove(self, name: str, audit: AuditHook | None = None) -> int:
        """Delete the person and every template; returns the number of templates deleted.
        `audit(session, person_id, templates_deleted)` runs in the same transaction."""
        with self.db.session() as s:
            person = s.scalar(select(Person).where(Person.name == name))
            if person is None:
                raise NotFoundError(f"no enrolled person named {name!r}")
            n = len(person.templates)
            if audit is not None:
                audit(s, person.id, n)
            s.delete(person)
        return n

    def matcher(self, calibration: Calibration, index: VectorIndex | None = None) -> Matcher:
        """A matcher over every template of the active model."""
        with self.db.session() as s:
            rows = s.execute(
                select(Template.id, Template.person_id, Template.embedding).where(
                    Template.model == self.model
                )
            ).all()
            names = {pid: name for pid, name in s.execute(select(Person.id, Person.name))}
            guard = objections.load_guard(
                s, self.model, objections.objection_threshold(calibration.threshold)
            )
            objectors = objections.objector_people(s, guard, self.model)
        if rows:
            vectors = np.stack([np.frombuffer(r.embedding, np.float32) for r in rows])
            dim = vectors.shape[1]
        else:
            vectors, dim = np.zeros((0, 128), np.float32), 128
        index = index or make_index(dim, len(rows))
        if rows:
            index.add(np.array([r.id for r in rows], np.int64), vectors)
        return Matcher(
            index,
            {r.id: r.person_id for r in rows},
            names,
            calibration,
            guard=guard,
            objectors=objectors,
        )

    def fingerprint(self) -> tuple[int, int, int, int]:
        """(template count, highest template id, the same of objections): changes whenever
        templates or objections are added or removed, so a cached matcher knows to reload."""
        with self.db.session() as s:
            count, top = s.execute(select(func.count(Template.id), func.max(Template.id))).one()
            return (int(count or 0), int(top or 0), *objections.fingerprint(s))


class MatcherCache:
    """The gallery's matcher, rebuilt when templates were added or removed."""

    def __init__(self, gallery: Gallery, calibration: Calibration, check_every_s: float = 5.0):
        self.gallery = gallery
        self.calibration = calibration
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._fingerprint: tuple[int, ...] | None = None
        self._matcher: Matcher | None = None
        self._checked = 0.0

    def get(self) -> Matcher:
        with self._lock:
            now = time.monotonic()
            if self._matcher is None or now - self._checked >= self.check_every_s:
                self._checked = now
                fingerprint = self.gallery.fingerprint()
                if self._matcher is None or fingerprint != self._fingerprint:
                    self._matcher = self.gallery.matcher(self.calibration)
                    self._fingerprint = fingerprint
            return self._matcher
