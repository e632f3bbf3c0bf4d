"""Drafts of the DPIA (GDPR Art. 35) and the record of processing activities (Art. 30).

Both are written from `SiteFacts` (the live configuration), the gallery counts in the
database and the accuracy measured on this site (`vigil eval pairs --save`), laid out like the
public notice (`render_html`, `render_pdf`). What only a person can write (necessity and
proportionality, the risks, the consultation, the measures decided, the sign-off) is left in
boxes marked TO BE WRITTEN BY A PERSON; nothing here makes that judgement.
"""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.faces.measured import MeasuredAccuracy
from vigil.privacy.facts import (
    LEGAL_BASIS_ARTICLES,
    NO_EMOTION_OR_ATTRIBUTES,
    CameraFacts,
    GalleryCounts,
    SiteFacts,
    days,
)
from vigil.privacy.notice import Notice, NoticeSection, public_ground_lines

NOT_MEASURED = "Accuracy not measured on this site"
GROUPS_NOT_MEASURED = "Per-group error rates were not measured"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2%}"


def accuracy_lines(measured: MeasuredAccuracy | None, model: str) -> list[str]:
    """The measured accuracy with its date, and per group, or plainly that it was not measured."""
    if measured is None:
        return [
            f"{NOT_MEASURED} for the face model {model}: no `vigil eval pairs FILE --save` has "
            "been run, so its error rates at this site are unknown. Measure them on labelled "
            "photos of the people concerned before relying on matches."
        ]
    o = measured.overall
    lines = [
        f"Measured on {measured.measured_at[:10]} ({measured.measured_at}) with {o.pairs} "
        f"labelled pairs from {measured.source}, face model {measured.model}: at the adopted "
        f"threshold {measured.threshold:.3f}, accuracy {_pct(o.accuracy)}, false match rate "
        f"{_pct(o.false_match_rate)}, false non-match rate {_pct(o.false_non_match_rate)}"
        + (f", ROC AUC {measured.roc_auc:.4f}." if measured.roc_auc is not None else ".")
    ]
    if measured.groups:
        lines += [
            f"Group {g}: {r.pairs} pairs, accuracy {_pct(r.accuracy)}, false match rate "
            f"{_pct(r.false_match_rate)}, false non-match rate {_pct(r.false_non_match_rate)}."
            for g, r in measured.groups.items()
        ]
        lines += [
            f"Widest gap between groups in {metric.replace('_', ' ')}: {gap:.2%}."
            for metric, gap in measured.widest_gap.items()
        ]
    else:
        lines.append(
            f"{GROUPS_NOT_MEASURED}: the evaluation pairs carried no group label (add a "
            "`group` column to the pairs file and re-run `vigil eval pairs FILE --save`)."
        )
    if len(measured.bands) > 1:  # each face size decided by its own threshold (0073)
        lines += [
            f"Faces {b}: {r.pairs} pairs, accuracy {_pct(r.accuracy)}, false match rate "
            f"{_pct(r.false_match_rate)}, false non-match rate {_pct(r.false_non_match_rate)}."
            for b, r in measured.bands.items()
        ]
    return lines


def gallery_line(g: GalleryCounts) -> str:
    hub = f", {g.from_hub} of them placed by the hub" if g.from_hub else ""
    return (
        f"Gallery: {g.people} people enrolled{hub}; {g.templates} face templates "
        f"(model {g.model}); {g.watchlists} watchlists naming {g.people_on_watchlists} people."
    )


def _basis(camera: CameraFacts) -> str:
    return LEGAL_BASIS_ARTICLES[camera.legal_basis] if camera.legal_basis else "not stated"


def camera_record(c: CameraFacts) -> str:
    """One camera's entry: what it does and its record, or what its record lacks."""
    parts = [
        f"{c.name}: {c.does}",
        f"purpose: {c.purpose or 'not stated'}",
        f"field of view: {c.field_of_view or 'not stated'}",
        f"area: {c.area}",
        f"legal basis: {_basis(c)}",
        f"footage kept {days(c.retention_days)}" if c.records else "no footage kept",
    ]
    if c.publicly_accessible and c.public_recognition_ground:
        parts.append(
            f"legal ground for recognition in a public area: {c.public_recognition_ground}"
        )
    if c.zones:
        parts.append("zones: " + ", ".join(c.zones))
    if c.record_gaps:
        parts.append("RECOGNITION OFF: record incomplete, lacks " + "; ".join(c.record_gaps))
    return "; ".join(parts) + "."


def _people_concerned(facts: SiteFacts) -> str:
    public = [c.name for c in facts.cameras if c.publicly_accessible]
    who = "Anyone in view of a camera: staff, visitors and contractors"
    if public:
        who += ", and members of the public (publicly accessible areas: " + ", ".join(public) + ")"
    return who + "."


def _recipients(facts: SiteFacts) -> list[str]:
    return list(facts.recipients) or ["No event, picture or template leaves the site."]


def _header(facts: SiteFacts) -> NoticeSection:
    return NoticeSection(
        "Controller",
        [f"{facts.operator or '(site.operator not set)'}, site {facts.site}."],
        [f"Contact for data protection requests: {facts.contact or '(site.contact not set)'}"],
        to_write=[
            "Name and contact of the data protection officer (DPO), and of the "
            "representative in the EU where applicable."
        ],
    )


def build_dpia(
    facts: SiteFacts,
    gallery: GalleryCounts,
    measured: MeasuredAccuracy | None,
    now: datetime | None = None,
) -> Notice:
    recognising = facts.recognising
    s: list[NoticeSection] = [
        NoticeSection(
            "About this draft",
            [
                "Written by Vigil from this system's live settings, its database and its saved "
                "measurements. It states what the system is set to do; it does not judge "
                "whether that is lawful. Every box marked TO BE WRITTEN BY A PERSON must be "
                "completed by the controller, with the data protection officer, before the "
                "processing starts or continues.",
                "Rewrite it after every change of vigil.yaml: the version below changes with it.",
            ],
        ),
        _header(facts),
        NoticeSection(
            "Description of the processing",
            [
                f"Purpose of the cameras: {facts.purpose}",
                (
                    f"Purpose of face recognition: {facts.recognition_purpose}"
                    if recognising
                    else "Face recognition is OFF: nobody is identified by their face."
                ),
                (
                    "Face recognition compares faces seen by the cameras below with an enrolled "
                    "gallery at a distance: remote biometric identification, a high-risk use "
                    "under the EU AI Act (Annex III 1(a)); face templates are special-category "
                    "data (GDPR Art. 9)."
                    if recognising
                    else "Faces are detected to create events, not identified."
                ),
                f"{len(facts.cameras)} camera(s) in operation:",
            ],
            [camera_record(c) for c in facts.cameras],
            [*public_ground_lines(facts), NO_EMOTION_OR_ATTRIBUTES],
        ),
        NoticeSection(
            "People and data concerned",
            [_people_concerned(facts)],
            [
                "Video pictures without sound (recording cameras).",
                "Events: time, camera and a still picture when a person is seen.",
                facts.unknown_faces,
                *(
                    ["Face templates of enrolled people (biometric data) and their names."]
                    if recognising
                    else []
                ),
                "The audit log: who viewed, searched or exported what, and why.",
            ],
            [gallery_line(gallery)],
        ),
        NoticeSection("Retention", ["Deleted automatically after:"], list(facts.retention)),
        NoticeSection("Recipients", [], _recipients(facts)),
        NoticeSection(
            "Measured accuracy of face recognition", accuracy_lines(measured, gallery.model)
        ),
        NoticeSection("Safeguards built into the system", [], list(facts.measures)),
        NoticeSection(
            "Necessity and proportionality",
            [
                "Why each camera and face recognition are needed for the purposes above, and why "
                "less intrusive means (recording only, badges, staff at the door) do not suffice."
            ],
            to_write=[
                "Assessment of necessity and proportionality, camera by camera; the "
                "legal basis and, for face recognition, the Art. 9(2) condition relied on."
            ],
        ),
        NoticeSection(
            "Risks to the rights and freedoms of the people concerned",
            [
                "Facts to weigh: "
                + f"{len(recognising)} camera(s) recognise faces, "
                + f"{sum(1 for c in facts.cameras if c.publicly_accessible)} see publicly "
                "accessible areas; wrong matches at the measured rates above; "
                f"{gallery.people} people enrolled."
            ],
            to_write=[
                "Likelihood and severity of each risk (wrong identification, chilling "
                "effect, function creep, unequal error rates between groups, breach of "
                "the gallery), for staff, visitors and the public."
            ],
        ),
        NoticeSection(
            "Measures decided",
            [],
            to_write=[
                "Measures the controller decides to address each risk, beyond the "
                "safeguards built in (who may enrol, review of watchlists, training, "
                "two-person verification of matches)."
            ],
        ),
        NoticeSection(
            "Consultation",
            [],
            to_write=[
                "Opinion of the data protection officer (Art. 35(2)); consultation of the "
                "works council or workers' representatives; views of the people "
                "concerned where appropriate (Art. 35(9)); prior consultation of the "
                "supervisory authority if a high risk remains (Art. 36)."
            ],
        ),
        NoticeSection(
            "Sign-off",
            [],
            to_write=[
                "Decision, name, role and date of the person responsible; date of the next review."
            ],
        ),
    ]
    return Notice(
        headline="Data protection impact assessment (draft)",
        site=facts.site,
        sections=s,
        notice_url=None,
        generated_at=now or datetime.now(UTC),
        kind="Draft",
        one_page=False,
    )


def _activity(
    title: str,
    purpose: str,
    people: str,
    data: str,
    basis: str,
    recipients: list[str],
    erasure: list[str],
    after: list[str] | None = None,
) -> NoticeSection:
    return NoticeSection(
        title,
        [],
        [
            f"Purpose: {purpose}",
            f"People concerned: {people}",
            f"Personal data: {data}",
            f"Legal basis: {basis}",
            "Recipients: " + "; ".join(recipients),
            "Transfers to third countries: none made by Vigil (check the recipients above).",
            "Time limits for erasure: " + "; ".join(erasure),
        ],
        after or [],
    )


def build_records(
    facts: SiteFacts,
    gallery: GalleryCounts,
    measured: MeasuredAccuracy | None,
    now: datetime | None = None,
) -> Notice:
    people = _people_concerned(facts)
    bases = sorted({_basis(c) for c in facts.cameras}) or ["not stated"]
    s: list[NoticeSection] = [
        NoticeSection(
            "About this record",
            [
                "Record of processing activities (GDPR Art. 30(1)), written by Vigil from this "
                "system's live settings. Keep it with the controller's other records; rewrite it "
                "after every change of vigil.yaml."
            ],
        ),
        _header(facts),
    ]
    if facts.recording:
        s.append(
            _activity(
                "Activity: video recording",
                facts.purpose,
                people,
                "video pictures without sound from " + ", ".join(c.name for c in facts.recording),
                "; ".join(bases),
                ["authorised staff of the controller (by role)"],
                [facts.retention[0]],
            )
        )
    if facts.detecting:
        unknown_kept = facts.unknown_face_retention_days > 0
        s.append(
            _activity(
                "Activity: detection of people and faces (events)",
                facts.purpose,
                people,
                "time, camera and still picture of each event; zone counts"
                + ("; unlinked face templates of unknown faces" if unknown_kept else ""),
                "; ".join(bases),
                ["authorised staff of the controller (by role)", *facts.recipients],
                [
                    f"still pictures {days(facts.snapshot_retention_days)}",
                    *(
                        [f"unknown-face templates {days(facts.unknown_face_retention_days)}"]
                        if unknown_kept
                        else ["no template of an unknown face"]
                    ),
                ],
            )
        )
    if facts.recognising:
        s.append(
            _activity(
                "Activity: face recognition against an enrolled gallery",
                facts.recognition_purpose,
                "people enrolled on purpose, and everyone whose face the recognising cameras ("
                + ", ".join(c.name for c in facts.recognising)
                + ") see",
                "face templates of enrolled people (biometric, Art. 9), their names and "
                "watchlists; matches with score, camera and time. " + gallery_line(gallery),
                "; ".join(sorted({_basis(c) for c in facts.recognising}))
                + (f" ({facts.legal_basis_note})" if facts.legal_basis_note else ""),
                ["authorised staff of the controller (by role)", *facts.recipients],
                [
                    "enrolled templates until the person is removed (templates past their review "
                    "date are listed by `vigil privacy status`)"
                ],
                [*public_ground_lines(facts), *accuracy_lines(measured, gallery.model)],
            )
        )
    s.append(
        _activity(
            "Activity: audit log of access by staff",
            "accountability: who viewed, searched, exported or changed what, and why",
            "the controller's staff using Vigil; people named in what they looked at",
            "user name, role, time, action, camera or person concerned, stated reason",
            "legal obligation of the controller (Art. 5(2), 24 and 32 GDPR)",
            ["auditors and administrators of the controller"],
            [days(facts.audit_retention_days)],
        )
    )
    s.append(
        NoticeSection(
            "Technical and organisational security measures (Art. 32)",
            [],
            [*facts.measures, NO_EMOTION_OR_ATTRIBUTES],
            to_write=[
                "The organisational measures: who may enrol people and change watchlists, "
                "staff training, access to the server room, backups, incident handling."
            ],
        )
    )
    return Notice(
        headline="Record of processing activities",
        site=facts.site,
        sections=s,
        notice_url=None,
        generated_at=now or datetime.now(UTC),
        kind="Record",
        one_page=False,
    )
