"""The store's enumerations, without SQLAlchemy: command-line options are typed with them, and
`vigil --help` must not load the database layer. The table modules import them from here."""

from __future__ import annotations

import enum


class LegalBasis(enum.StrEnum):
    """Why processing this person's face is lawful (GDPR art. 6 and 9)."""

    consent = "consent"
    contract = "contract"
    legal_obligation = "legal_obligation"
    vital_interest = "vital_interest"
    public_task = "public_task"
    legitimate_interest = "legitimate_interest"

    @property
    def needs_note(self) -> bool:
        """Bases that only hold with a written justification (balancing test, statute...)."""
        return self in (
            LegalBasis.legitimate_interest,
            LegalBasis.public_task,
            LegalBasis.legal_obligation,
        )


class WatchAction(enum.StrEnum):
    """What happens when a watchlisted person is seen. Strongest wins: alert > notify > ignore."""

    alert = "alert"
    notify = "notify"
    ignore = "ignore"


class Role(enum.StrEnum):
    admin = "admin"  # everything, including users and settings
    operator = "operator"  # view, export, search, enrol
    viewer = "viewer"  # view live and recorded footage and events
    auditor = "auditor"  # reads the audit log and nothing else


class DetectorChoice(enum.StrEnum):
    """What finds people and vehicles (`analysis.detector` in vigil.yaml)."""

    auto = "auto"  # nanodet when built, else hog
    nanodet = "nanodet"
    hog = "hog"


class HealthCondition(enum.StrEnum):
    """A camera fault (`camera.health`); its event kind is `camera_<condition>`."""

    covered = "covered"  # the picture is one flat colour: lens covered, black image
    dark = "dark"  # too dark to see anything
    blurred = "blurred"  # much softer than the reference: defocused, smeared
    moved = "moved"  # the scene no longer matches the reference: turned, moved
    frozen = "frozen"  # identical frames from a live camera
    stream_collapse = "stream_collapse"  # frame rate or bitrate far below the usual
    recording_gap = "recording_gap"  # a recorded camera is not recording

    @property
    def event_kind(self) -> str:
        return f"camera_{self.value}"
