"""Request and response bodies of the API (pydantic; they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from vigil.store.models.users import Role
from vigil.store.times import utc_instant

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=256)]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
    Field(description="Why this is done; stored in the audit log."),
]


def _printable(v: str) -> str:
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in v):
        raise ValueError("must not contain control characters (NUL, newlines, tabs...)")
    return v


# A name a person chose (people, watchlists, tokens, cameras): trimmed, 1..200 characters,
# no control characters. Used by every API body and form that names something.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_printable),
]
# A point in time sent by a client (query or body): with a timezone, normalised to UTC, between
# 1970 and 3000 (`store.times`); every route that takes times uses it.
Instant = Annotated[AwareDatetime, AfterValidator(utc_instant)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in words.")
    errors: list[dict[str, Any]] | None = Field(None, description="Per-field problems.")


class LoginIn(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Password


class SetupIn(Strict):
    username: Username
    password: NewPassword
    code: str = Field(
        "",
        max_length=100,
        description="The one-time code `vigil serve` printed (also in <data_dir>/setup-code).",
    )


class PasswordChangeIn(Strict):
    current_password: Password
    new_password: NewPassword


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    disabled: bool
    must_change_password: bool
    created_at: datetime
    created_by: str
    last_login_at: datetime | None
    can_unmask: bool = Field(False, description="May reveal people on protected cameras.")


class MeOut(BaseModel):
    user: UserOut
    permissions: list[str]
    csrf_token: str | None = Field(
        None, description="Send as X-CSRF-Token on state-changing requests with the cookie."
    )


class UserCreateIn(Strict):
    username: Username
    role: Role
    password: NewPassword | None = Field(
        None, description="Omit to get a one-time password, which must be changed at login."
    )


class UserCreatedOut(BaseModel):
    user: UserOut
    one_time_password: str | None = Field(None, description="Shown once; not stored.")


class UserUpdateIn(Strict):
    role: Role | None = None
    disabled: bool | None = None
    reset_password: bool = Field(False, description="Set a new one-time password (shown once).")
    can_unmask: bool | None = Field(
        None, description="Grant or withdraw revealing people on privacy-protected cameras."
    )


class TokenCreateIn(Strict):
    name: Annotated[Name, StringConstraints(max_length=100)]
    days: Annotated[float, Field(gt=0, le=3650)] | None = Field(
        None, description="Expires after this many days (default: never)."
    )


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class TokenCreatedOut(BaseModel):
    token: str = Field(description="The secret: shown once, stored only as a hash.")
    info: TokenOut


class CameraOut(BaseModel):
    name: str
    enabled: bool
    record: bool
    state: str = Field(
        description="starting, connecting, online, degraded (recording, but the footage is "
        "missing frames), offline, error, stopped; a camera not recorded: disabled (enabled: "
        "false), analysis-only (record: false: analysed, live view), idle (record: false and "
        "analysis off), unknown (no recorder reports it)"
    )
    online: bool
    recording: bool
    error: str
    fps: float | None
    width: int
    height: int
    codec: str
    last_packet_at: float | None
    dropped_frames: int = Field(
        0, description="Frames missing from the recording since the recorder started."
    )
    dropped_at: float | None = Field(None, description="When the last of them was noticed.")
    analysis_dropped: int = Field(
        0, description="Frames analysis skipped since it started (it takes the newest frame)."
    )
    live: bool = Field(description="A live frame is available now.")
    live_frame_at: float | None
    missing_segments: int = Field(
        0, description="Recorded segments whose file is gone, not yet acknowledged."
    )
    damaged_segments: int = Field(
        0, description="Segments whose file no longer matches its checksum, not yet acknowledged."
    )
    recognises: bool = Field(
        False, description="Faces on this camera are matched against the enrolled gallery."
    )
    recognition_note: str = Field(
        "",
        description="Why a camera set to recognise faces does not: the fields its record "
        "lacks (purpose, field_of_view, publicly_accessible, legal_basis).",
    )


class SegmentOut(BaseModel):
    id: int
    start: datetime
    end: datetime
    complete: bool
    size_bytes: int
    keyframes: int
    locked: bool
    url: str = Field(description="The fMP4 file (HTTP range requests supported).")


class SpanOut(BaseModel):
    start: datetime
    end: datetime


class FootageProblemOut(BaseModel):
    """A recorded segment lost later: its file gone (missing) or changed (damaged)."""

    id: int
    camera: str
    path: str
    start: datetime
    end: datetime
    kind: Literal["missing", "damaged"]
    detail: str
    found_at: datetime
    found_by: str = Field(description="What noticed it: retention, scrub, export, repair...")
    acknowledged_at: datetime | None
    acknowledged_by: str
    note: str


class AckIn(Strict):
    note: Reason = Field(description="What was done about the lost footage; audited.")
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        None, max_length=10_000, description="These problems only (default: all of the camera's)."
    )


class AckOut(BaseModel):
    acknowledged: list[FootageProblemOut]


class LostSegmentOut(BaseModel):
    segment: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    problem: str


class ClipFootageOut(BaseModel):
    """What a finished export holds of the range asked for."""

    complete: bool = Field(description="All of the range, from intact segments.")
    requested_s: float
    footage_s: float = Field(description="Seconds of the range the clip holds.")
    gaps: list[SpanOut]
    damaged_segments: list[LostSegmentOut]
    missing_segments: list[LostSegmentOut]
    warnings: list[str] = Field(description="One sentence per gap, damaged or missing segment.")


class RecordingsOut(BaseModel):
    camera: str
    start: datetime
    end: datetime
    segments: list[SegmentOut]
    spans: list[SpanOut]
    gaps: list[SpanOut]


class ExportIn(Strict):
    start: Instant = Field(description="Start, ISO 8601 with a timezone.")
    end: Instant = Field(description="End, ISO 8601 with a timezone.")
    exact: bool = Field(False, description="Re-encode to cut exactly (default: from a keyframe).")
    reason: Reason
    redact: bool = Field(
        True,
        description="Pixelate every face (but the subject's) and black out the privacy masks. "
        "false exports the unredacted original (audited as such).",
    )
    subject_person_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="With redact: the enrolled person left visible."
    )


class ExportJobOut(BaseModel):
    id: str
    url: str = Field(description="This job: poll it until state is done or failed.")
    camera: str
    state: Literal["queued", "running", "done", "failed"]
    progress: float = Field(description="Fraction done, 0..1.")
    error: str | None = Field(None, description="Why it failed.")
    redacted: bool
    created_at: datetime
    finished_at: datetime | None = None
    expires_at: datetime | None = Field(None, description="When the ZIP is deleted.")
    download_url: str | None = Field(None, description="When done: GET it for the ZIP.")
    filename: str | None = None
    bytes: int | None = None
    clip_start: datetime | None = None
    clip_end: datetime | None = None
    footage: ClipFootageOut | None = Field(
        None, description="When done: gaps and damaged or missing segments in the range."
    )


class PersonOut(BaseModel):
    id: int
    name: str
    templates: int
    legal_bases: list[str]
    enrolled_at: datetime
    enrolled_by: str


class QualityOut(BaseModel):
    file: str
    ok: bool
    score: float | None = None
    problems: list[str]
    face_px: float | None = None


class EnrolOut(BaseModel):
    person: PersonOut
    added: int = Field(description="Templates added (a photo already enrolled adds none).")
    photos: list[QualityOut]


class CheckOut(BaseModel):
    photos: list[QualityOut]


class PersonMatchOut(BaseModel):
    person_id: int | None
    name: str | None = Field(description="Only when the score is above the threshold.")
    known: bool
    score: float
    confidence: float
    confidence_text: str
    threshold: float
    band: str = Field(
        "any size",
        description="The face-size band whose threshold decided (e.g. '28-40 px'); under the "
        "calibration's floor ('under 28 px') a face is never named.",
    )
    objection: bool = Field(
        False,
        description="The face is covered by an objection to recognition: never named, no "
        "figures, no unknown-face sightings searched.",
    )


class EventOut(BaseModel):
    uid: str
    camera: str
    kind: str
    start: datetime
    end: datetime | None
    person_id: int | None
    person: str | None
    score: float | None
    confidence: float | None
    zone: str | None
    snapshot_url: str | None
    verification: str | None = Field(
        default=None, description="pending, confirmed or rejected: a match people verify"
    )


class SightingOut(BaseModel):
    event_uid: str
    camera: str
    seen_at: datetime
    score: float


class SearchOut(BaseModel):
    face: QualityOut
    match: PersonMatchOut
    events: list[EventOut] = Field(description="Events of the matched person, newest first.")
    sightings: list[SightingOut] = Field(
        description="Unknown-face sightings that resemble the photo (kept only briefly)."
    )
    sightings_note: str | None = Field(
        None, description="Why no sightings could be searched (none kept, or an objection)."
    )


class EventPageOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None


class ReviewItemOut(BaseModel):
    id: int
    camera: str
    start: datetime
    end: datetime | None = Field(description="Null while one of its events goes on.")
    active: bool = Field(description="Events may still join (not yet closed).")
    severity: Literal["alert", "detection"]
    objects: dict[str, int] = Field(description="Event kind -> how many events of it.")
    reviewed: bool = Field(description="Marked reviewed by the calling user.")
    snapshot_url: str | None = Field(description="The best snapshot (its event's).")
    events_url: str = Field(description="The events list of this camera and span.")


class ReviewPageOut(BaseModel):
    items: list[ReviewItemOut]
    next_cursor: str | None


class ReviewDetailOut(ReviewItemOut):
    events: list[EventOut] = Field(description="Its events, oldest first.")


class ReviewMarkIn(Strict):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        min_length=1, max_length=1000, description="Review item ids to mark reviewed."
    )


class ReviewMarkOut(BaseModel):
    marked: int = Field(description="How many were not marked reviewed by you before.")


class HealthOut(BaseModel):
    ok: bool
    site: str
    setup_required: bool = Field(description="No admin yet: POST /api/v1/auth/setup.")


class UnmaskIn(Strict):
    reason: Reason


class ViewStateOut(BaseModel):
    """How this caller sees a camera: people pixelated or not, and whether they may reveal."""

    camera: str
    protected: bool = Field(description="People are pixelated for this caller right now.")
    protected_role: bool = Field(description="The caller's role is protected on this camera.")
    can_unmask: bool
    unmasked_until: datetime | None = None
