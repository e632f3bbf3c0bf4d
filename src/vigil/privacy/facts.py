"""The facts every privacy document states, taken from the live system in one place.

`site_facts(config)` reads `vigil.yaml`: who operates the site, each camera's record (purpose,
field of view, public or not, legal basis, retention, what it does, whether it recognises by
`VigilConfig.recognises`), the retention periods and where events are sent. `gallery_counts`
reads the database (people, templates, watchlists); `measured_accuracy` the saved `vigil eval`
figures. The public notice, the workers' notice, the DPIA draft and the record of processing
are all written from these, so none of them can say something the others do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, distinct, func, select

from vigil.config import PrivacyConfig, VigilConfig
from vigil.faces.measured import MeasuredAccuracy, load_measured
from vigil.store.db import Database
from vigil.store.models.events import Watchlist, WatchlistMember
from vigil.store.models.faces import Person, Template
from vigil.vision.embedder import embedder_name

LEGAL_BASIS_WORDS = {
    "consent": "your consent, which you can withdraw at any time",
    "contract": "a contract with you",
    "legal_obligation": "a legal obligation of the operator",
    "vital_interest": "protecting someone's life or health",
    "public_task": "a task carried out in the public interest",
    "legitimate_interest": "the operator's legitimate interest, weighed against your rights",
}

# The same bases as the records name them (GDPR Art. 6(1)).
LEGAL_BASIS_ARTICLES = {
    "consent": "consent, Art. 6(1)(a) GDPR",
    "contract": "contract, Art. 6(1)(b) GDPR",
    "legal_obligation": "legal obligation, Art. 6(1)(c) GDPR",
    "vital_interest": "vital interests, Art. 6(1)(d) GDPR",
    "public_task": "public task, Art. 6(1)(e) GDPR",
    "legitimate_interest": "legitimate interests, Art. 6(1)(f) GDPR",
}

# Stated in the notices, the DPIA and the docs: Vigil has no code for either.
NO_EMOTION_OR_ATTRIBUTES = (
    "Vigil does not recognise emotions and does not sort people into categories by sensitive "
    "attributes (such as ethnic origin, religion, health, sex life or political opinion): it "
    "has no such function."
)


@dataclass(frozen=True)
class CameraFacts:
    name: str
    records: bool
    retention_days: float
    detects_faces: bool
    recognises: bool
    masks_burned_in: bool = False  # privacy masks blacked out before recording
    purpose: str = ""
    field_of_view: str = ""
    publicly_accessible: bool | None = None
    legal_basis: str | None = None
    public_recognition_ground: str = ""
    record_gaps: tuple[str, ...] = ()  # what its record lacks to recognise, though asked to
    zones: tuple[str, ...] = ()  # "press 1 (machine)"

    @property
    def does(self) -> str:
        parts = ["records video" if self.records else "live view only, nothing recorded"]
        if self.records and self.masks_burned_in:
            parts.append("masked areas are blacked out before recording and never recorded")
        if self.detects_faces:
            parts.append("detects people and faces")
        if self.recognises:
            parts.append("recognises enrolled people")
        return "; ".join(parts)

    @property
    def area(self) -> str:
        return {True: "publicly accessible", False: "not publicly accessible"}.get(
            self.publicly_accessible,  # type: ignore[arg-type]
            "public access not stated",
        )


@dataclass(frozen=True)
class SiteFacts:
    site: str
    operator: str
    contact: str
    purpose: str
    recognition_enabled: bool  # the site-wide switch
    recognition_purpose: str
    legal_basis: str | None
    legal_basis_note: str
    cameras: tuple[CameraFacts, ...]
    retention: tuple[str, ...]  # "Video recordings: 30 days", ... as the public is told
    snapshot_retention_days: float
    unknown_face_retention_days: float  # 0: no template of an unknown face is kept
    unknown_faces: str  # what is kept of faces that match nobody, why and how long
    audit_retention_days: float
    recipients: tuple[str, ...]  # where events leave the site (MQTT, webhooks, hub)
    notice_url: str | None
    request_info: str
    measures: tuple[str, ...]  # the technical safeguards as configured

    @property
    def recognising(self) -> list[CameraFacts]:
        return [c for c in self.cameras if c.recognises]

    @property
    def detecting(self) -> list[CameraFacts]:
        return [c for c in self.cameras if c.detects_faces]

    @property
    def recording(self) -> list[CameraFacts]:
        return [c for c in self.cameras if c.records]


def days(d: float) -> str:
    return "1 day" if d == 1 else f"{d:g} days"


OBJECTION_WORDS = (
    "You may object to being recognised. We then keep one face template of you (numbers "
    "describing your face, not a picture, and no name), who recorded the objection, when and "
    "why, only so that your face is never identified here or at the other sites of this "
    "network; it is kept as long as the objection stands. If you were enrolled, you are "
    "removed when you withdraw your consent."
)


def unknown_faces_words(p: PrivacyConfig) -> str:
    """What is kept of faces that match nobody: whether anything is, why, and for how long (the
    notice and the subject-access report say the same)."""
    if not p.keeps_unknown_faces:
        return (
            "Faces are detected to create events. For a face that matches nobody, no face "
            "template (numbers describing a face) is kept at all."
        )
    return (
        "Faces are detected to create events. A face template (numbers describing a face, not "
        f"a picture, no name) of each face that matches nobody is kept for "
        f"{days(p.unknown_face_days)}, then deleted. Why: {p.unknown_faces_purpose.strip()}"
    )


def _footage_line(recording: list[CameraFacts]) -> str:
    """'Video recordings: 30 days (staff-entrance: 14 days)': the usual period, then exceptions."""
    spans = [c.retention_days for c in recording]
    usual = max(sorted(set(spans)), key=spans.count)
    others = [f"{c.name}: {days(c.retention_days)}" for c in recording if c.retention_days != usual]
    return f"Video recordings: {days(usual)}" + (f" ({'; '.join(others)})" if others else "")


def _cameras(config: VigilConfig) -> tuple[CameraFacts, ...]:
    return tuple(
        CameraFacts(
            name=c.name,
            records=c.record,
            retention_days=float(c.retention_days),
            detects_faces=c.analysis.enabled,
            recognises=config.recognises(c),
            masks_burned_in=c.privacy_masks_burn_in,
            purpose=c.purpose.strip(),
            field_of_view=c.field_of_view.strip(),
            publicly_accessible=c.publicly_accessible,
            legal_basis=config.legal_basis(c),
            public_recognition_ground=c.public_recognition_ground.strip(),
            record_gaps=tuple(config.record_gaps(c)),
            zones=tuple(f"{z.name} ({z.kind})" for z in c.zones),
        )
        for c in config.cameras
        if c.enabled
    )


def _retention(config: VigilConfig, cams: tuple[CameraFacts, ...]) -> tuple[str, ...]:
    p = config.privacy
    recording = [c for c in cams if c.records]
    keep = []
    if recording:
        keep.append(_footage_line(recording))
    if any(c.detects_faces for c in cams):
        keep.append(f"Still pictures of events: {days(p.snapshot_retention_days)}")
        if p.keeps_unknown_faces:
            keep.append(f"Face templates of unknown people: {days(p.unknown_face_days)}")
    if any(c.recognises for c in cams):
        keep.append("Face templates of enrolled people: until they are removed from the list")
        keep.append(
            "The face template of a person who objected to recognition: as long as the "
            "objection stands"
        )
    keep.append(f"The log of who viewed or searched what: {days(p.audit_retention_days)}")
    return tuple(keep)


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _recipients(config: VigilConfig) -> tuple[str, ...]:
    n = config.notify
    out = []
    if n.mqtt.enabled:
        out.append(f"MQTT broker {n.mqtt.host}:{n.mqtt.port} (events)")
    out += [f"webhook {_host(w.url)} (events)" for w in n.webhooks]
    if config.sync.enabled:
        out.append(
            f"the operator's hub at {_host(config.sync.hub_url)} (events, thumbnails, audit)"
        )
    return tuple(out)


def _measures(config: VigilConfig) -> tuple[str, ...]:
    p, cams = config.privacy, [c for c in config.cameras if c.enabled]
    masked = [c.name for c in cams if c.privacy_masks]
    burned = [c.name for c in cams if c.privacy_masks_burn_in]
    protected = [c.name for c in cams if c.privacy_view.protected_roles]
    out = [
        "Face recognition runs only with the site-wide switch, the camera's own switch and a "
        "complete camera record (purpose, field of view, public access, legal basis); a "
        "publicly accessible camera also needs its specific legal ground.",
        "Open-set matching: a face below the match threshold is never given a name; unknown "
        "faces are never added to the gallery.",
        "Every view, search, export, enrolment and unmask is written to an append-only audit "
        f"log, hash-chained and signed (Ed25519) every {p.audit_checkpoint_every} records.",
        "Site signing key "
        + (
            "encrypted at rest with a passphrase."
            if p.signing_key_passphrase_file
            else "stored unencrypted (no privacy.signing_key_passphrase_file set)."
        ),
        "Access by named accounts with roles (admin, operator, viewer, auditor); passwords "
        "hashed with argon2id; login attempts limited; sessions "
        + ("sent over HTTPS only." if config.api.secure_cookies else "not marked Secure."),
        "Exports are redacted (faces pixelated, privacy masks blacked out) unless an authorised "
        "user asks for the original with a reason, and are signed.",
        "Retention runs automatically; footage needed as evidence is kept only under a lock "
        "with a recorded reason.",
    ]
    if masked:
        out.append(
            "Privacy masks (blacked out before any analysis, in live view and exports) on: "
            + ", ".join(masked)
            + (f"; also burned into the recordings of {', '.join(burned)}." if burned else ".")
        )
    if protected:
        out.append(
            "Privacy-protected viewing (people pixelated until a reasoned, audited unmask) on: "
            + ", ".join(protected)
            + "."
        )
    return tuple(out)


def site_facts(config: VigilConfig) -> SiteFacts:
    p, site = config.privacy, config.site
    cams = _cameras(config)
    return SiteFacts(
        site=site.name,
        operator=site.operator,
        contact=site.contact,
        purpose=p.purpose,
        recognition_enabled=p.face_recognition_enabled,
        recognition_purpose=p.face_recognition_purpose,
        legal_basis=p.legal_basis,
        legal_basis_note=p.legal_basis_note,
        cameras=cams,
        retention=_retention(config, cams),
        snapshot_retention_days=p.snapshot_retention_days,
        unknown_face_retention_days=p.unknown_face_days,
        unknown_faces=unknown_faces_words(p),
        audit_retention_days=p.audit_retention_days,
        recipients=_recipients(config),
        notice_url=p.notice_url,
        request_info=p.request_info,
        measures=_measures(config),
    )


@dataclass(frozen=True)
class GalleryCounts:
    people: int
    templates: int  # of the active model
    watchlists: int
    people_on_watchlists: int
    from_hub: int  # people the hub placed here
    model: str


def gallery_counts(db: Database, model: str) -> GalleryCounts:
    with db.session() as s:

        def count(q: Select[Any]) -> int:
            return int(s.scalar(q) or 0)

        return GalleryCounts(
            people=count(select(func.count(Person.id))),
            templates=count(select(func.count(Template.id)).where(Template.model == model)),
            watchlists=count(select(func.count(Watchlist.id))),
            people_on_watchlists=count(select(func.count(distinct(WatchlistMember.person_id)))),
            from_hub=count(select(func.count(Person.id)).where(Person.hub_uid.is_not(None))),
            model=model,
        )


def active_model(config: VigilConfig) -> str:
    return embedder_name(config.faces.embedder_model)


def measured_accuracy(config: VigilConfig, data_dir: Path) -> MeasuredAccuracy | None:
    return load_measured(data_dir, active_model(config))
