"""The notice for workers' representatives and workers (EU AI Act Art. 26(7)).

An employer putting a high-risk AI system into use at the workplace must tell the workers'
representatives and the workers concerned first. Written from the same `SiteFacts`, gallery
counts and measured accuracy as the public notice and the DPIA draft, laid out the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.faces.measured import MeasuredAccuracy
from vigil.privacy.facts import NO_EMOTION_OR_ATTRIBUTES, GalleryCounts, SiteFacts
from vigil.privacy.notice import Notice, NoticeSection, basis_lines, public_ground_lines
from vigil.privacy.records import accuracy_lines, camera_record, gallery_line


def build_workers_notice(
    facts: SiteFacts,
    gallery: GalleryCounts,
    measured: MeasuredAccuracy | None,
    now: datetime | None = None,
) -> Notice:
    recognising = facts.recognising
    if recognising:
        what = [
            "Vigil, a camera system with face recognition, is in use at "
            + ", ".join(c.name for c in recognising)
            + ". Faces seen there are compared with a gallery of people enrolled on purpose: "
            "remote biometric identification, a high-risk AI system under the EU AI Act "
            "(Annex III 1(a)). This information is given under Art. 26(7) of the Act.",
            f"Purpose: {facts.recognition_purpose}",
            *basis_lines(facts),
            *public_ground_lines(facts),
        ]
    else:
        what = [
            "Vigil, a camera system, is in use. Face recognition is OFF: nobody is identified "
            "by their face. Faces and people are detected to create events."
        ]
    sections = [
        NoticeSection(
            "Who uses it",
            [f"{facts.operator} at {facts.site}.", f"Contact: {facts.contact}"],
        ),
        NoticeSection("What the system does", what, [], [NO_EMOTION_OR_ATTRIBUTES]),
        NoticeSection(
            "Where, and what each camera does",
            [f"Purpose of the cameras: {facts.purpose}"],
            [camera_record(c) for c in facts.cameras] or ["No camera is in operation."],
            [
                "Machine zones measure when a machine runs from motion in the picture; doorway "
                "zones count people going in and out; neither names anyone."
            ]
            if any(c.zones for c in facts.cameras)
            else [],
        ),
        NoticeSection(
            "Who is in the gallery",
            [
                gallery_line(gallery),
                "Nobody is added from camera footage: enrolment is done by authorised staff "
                "from a photo, with a legal basis recorded for each face template. Anyone not "
                "enrolled is shown only as 'unknown person'.",
            ],
        ),
        NoticeSection("How accurate it is", accuracy_lines(measured, gallery.model)),
        NoticeSection(
            "Human oversight and logs",
            [
                "A match is shown to staff, who decide what to do; the system takes no "
                "decision about a person on its own. Every view, search, export and enrolment "
                "is logged with who did it and why, in a log that users with the auditor "
                "role can read and verify."
            ],
            list(facts.measures),
        ),
        NoticeSection(
            "How long it is kept",
            ["Deleted automatically after:"],
            list(facts.retention),
        ),
        NoticeSection(
            "Your rights",
            [
                "Workers may ask for a copy of the data about them, have it corrected or "
                "deleted, and object to face recognition; consent can be withdrawn at any time "
                f"where it is the legal basis. Write to {facts.contact}.",
                "The data protection impact assessment and the record of processing are "
                "available to the workers' representatives on request.",
            ],
        ),
    ]
    headline = (
        "Information for workers' representatives: face recognition at work"
        if recognising
        else "Information for workers' representatives: camera system at work"
    )
    return Notice(
        headline=headline,
        site=facts.site,
        sections=sections,
        notice_url=None,
        generated_at=now or datetime.now(UTC),
        one_page=False,
    )
