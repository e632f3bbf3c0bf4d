"""The site-hub contract: every NATS subject and message body a site and a hub exchange.

Sites and hubs are deployed apart, so both sides import this one module and nothing else
decides a subject or a field name. Subjects all start `vigil.<site>.`:

| subject                           | stream | body                                        |
|-----------------------------------|--------|---------------------------------------------|
| vigil.<site>.events.<camera>      | EVENTS | `EventCopy`, or `EventTombstone` (deleted)  |
| vigil.<site>.status.<camera>      | EVENTS | `CameraStatus`                              |
| vigil.<site>.objections           | EVENTS | `ObjectionCopy` (an objection recorded)     |
| vigil.<site>.audit                | AUDIT  | `AuditCopy`                                 |
| vigil.<site>.heads                | AUDIT  | `AuditHead` (a signed checkpoint, 0065)     |
| vigil.<site>.thumbs.<camera>      | THUMBS | JPEG bytes; `Thumbnail` in the headers      |
| vigil.<site>.cmd.<verb>           | -      | hub->site request (`PersonPut`, ...), reply |

Versions and compatibility (the promise both sides keep):
- Every body carries `"schema"`, the format's number (`SCHEMA`, now 1). A body without it is
  schema 1: what sites and hubs sent before this module existed, field for field.
- Reading is lenient: unknown fields (a newer peer's additions) are ignored, missing optional
  ones take their defaults. Adding a field is therefore not a new schema; only a change an
  older reader would misread (a field renamed, retyped or given a new meaning) is.
- A body with a schema newer than `SCHEMA` is refused (`WireError`): the hub leaves such a
  message unacked at the site (stored later, once the hub is upgraded, never stored wrong) and
  a site answers such a command with an error. Upgrade hubs before sites.
- Writing is strict: models refuse unknown fields (`extra="forbid"`), so a typo is an error
  here rather than a field the peer never reads. Bodies are written with `json.dumps` of the
  declared fields, times as `isoformat()` in UTC (`+00:00`), as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vigil.errors import InputError

SCHEMA = 1  # the newest body format this code reads and the one it writes
PREFIX = "vigil"
STREAMS = ("EVENTS", "AUDIT", "THUMBS")  # a site's streams, each pulled by the hub
HUB_CONSUMER = "hub"  # the hub's durable consumer on each of them


class WireError(InputError):
    """A body that does not parse, lacks a required field, or has a newer schema."""


def _utc(value: datetime) -> datetime:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.isoformat()


# A point in time: aware, UTC, written as `2026-03-01T10:00:00+00:00`.
Instant = Annotated[datetime, AfterValidator(_utc), PlainSerializer(_iso, return_type=str)]
# A point in time as a person gave it (its zone kept), written by `isoformat()`.
Moment = Annotated[datetime, PlainSerializer(_iso, return_type=str)]


_CONFIG = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, coerce_numbers_to_str=True)


_LENIENT = {"lenient": True}  # the validation context of `read()`


class WirePart(BaseModel):
    """A part of a body (no schema of its own): strict on write, lenient inside `read()`."""

    model_config = _CONFIG

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown(cls, data: Any, info: ValidationInfo) -> Any:
        """Inside `read()` (pydantic passes its context down to nested models), fields this
        model does not know are dropped instead of refused: a newer peer's additions."""
        if not (isinstance(data, dict) and info.context and info.context.get("lenient")):
            return data
        known = set(cls.model_fields)
        known |= {f.alias for f in cls.model_fields.values() if f.alias}
        return {k: v for k, v in data.items() if k in known}


class WireModel(WirePart):
    """A message body. Write with `encode()` (strict), read with `read()` (lenient)."""

    schema_version: int = Field(default=SCHEMA, alias="schema")

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, v: int) -> int:
        if v > SCHEMA:
            raise ValueError(f"schema {v} is newer than this Vigil reads ({SCHEMA})")
        return v

    @classmethod
    def read(cls, data: bytes | str | Mapping[str, Any]) -> Self:
        """Parse a body from a peer: unknown fields ignored, no `schema` = 1."""
        try:
            if isinstance(data, Mapping):
                return cls.model_validate(dict(data), context=_LENIENT)
            return cls.model_validate_json(data or b"{}", context=_LENIENT)
        except ValidationError as exc:
            raise WireError(f"{cls.__name__}: {_problems(exc)}") from exc

    def dump(self) -> dict[str, Any]:
        """The JSON object as sent (field names as on the wire)."""
        return self.model_dump(mode="json", by_alias=True)

    def encode(self) -> bytes:
        return json.dumps(self.dump()).encode()


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


# --- subjects ---


def event_subject(site: str, camera: str) -> str:
    return f"{PREFIX}.{site}.events.{camera}"


def status_subject(site: str, camera: str) -> str:
    return f"{PREFIX}.{site}.status.{camera}"


def audit_subject(site: str) -> str:
    return f"{PREFIX}.{site}.audit"


def head_subject(site: str) -> str:
    """Signed audit heads. Not `.audit.head`: a hub before 0065 would read that as a record."""
    return f"{PREFIX}.{site}.heads"


def objection_subject(site: str) -> str:
    return f"{PREFIX}.{site}.objections"


def thumb_subject(site: str, camera: str) -> str:
    return f"{PREFIX}.{site}.thumbs.{camera}"


def command_subject(site: str, verb: str) -> str:
    """The request subject of `verb` (e.g. `person.put`) at `site`."""
    return f"{PREFIX}.{site}.cmd.{verb}"


def commands_wildcard(site: str) -> str:
    """What a site subscribes to for the hub's requests."""
    return f"{PREFIX}.{site}.cmd.>"


def stream_subjects(site: str) -> dict[str, list[str]]:
    """Each of a site's streams and the subjects it holds."""
    return {
        "EVENTS": [
            f"{PREFIX}.{site}.events.>",
            f"{PREFIX}.{site}.status.>",
            objection_subject(site),
        ],
        "AUDIT": [audit_subject(site), head_subject(site)],
        "THUMBS": [f"{PREFIX}.{site}.thumbs.>"],
    }


@dataclass(frozen=True)
class Subject:
    """A parsed subject: `kind` is events/status/audit/thumbs/cmd; `rest` the camera (or the
    command's verb), "" for audit."""

    site: str
    kind: str
    rest: str = ""


def parse_subject(subject: str) -> Subject | None:
    """`vigil.<site>.<kind>[.<rest>]`, or None for a subject that is not Vigil's."""
    parts = subject.split(".")
    if len(parts) < 3 or parts[0] != PREFIX or not parts[1]:
        return None
    return Subject(parts[1], parts[2], ".".join(parts[3:]))


# --- site -> hub: the streams ---


class EventCopy(WireModel):
    """One version of a site's event (`vigil.<site>.events.<camera>`); a later change of the
    same `uid` has a higher `version` (`events.sync_version`; 0 from sites before 0014)."""

    site: str = ""  # the sending site (the hub also checks the subject and account)
    uid: str
    edge_id: int
    camera: str
    kind: str
    start: Instant
    end: Instant | None = None
    score: float | None = None
    confidence: float | None = None
    zone: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    person_uid: str | None = None  # the hub's uid of the person recognised, if the hub's
    version: int = 0

    @field_validator("details", mode="before")
    @classmethod
    def _no_details(cls, v: Any) -> Any:
        return {} if v is None else v


class EventTombstone(WireModel):
    """The event was deleted at the site (retention, erasure): the hub deletes its copy."""

    site: str = ""  # the sending site (the hub also checks the subject and account)
    uid: str
    camera: str
    deleted: bool = True
    version: int = 0


def read_event(data: bytes | str | Mapping[str, Any]) -> EventCopy | EventTombstone:
    """The body of `vigil.<site>.events.<camera>`: a copy, or a tombstone (`"deleted": true`)."""
    body = data if isinstance(data, Mapping) else json_object(data)
    return (EventTombstone if body.get("deleted") else EventCopy).read(body)


def json_object(data: bytes | str) -> dict[str, Any]:
    """A body as a JSON object, or `WireError`."""
    try:
        body = json.loads(data or b"{}")
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise WireError("the body must be a JSON object")
    return body


class AuditCopy(WireModel):
    """One record of the site's audit log (`vigil.<site>.audit`), hash chain included."""

    site: str = ""  # the sending site (the hub also checks the subject and account)
    seq: int
    time: Instant
    hash: str
    prev_hash: str = ""
    actor: str = ""
    role: str = ""
    action: str = ""
    target_kind: str = ""
    target_id: str = ""
    camera: str | None = None
    person: str | None = None
    reason: str = ""
    source: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("details", mode="before")
    @classmethod
    def _no_details(cls, v: Any) -> Any:
        return {} if v is None else v


class AuditHead(WireModel):
    """A signed checkpoint of the site's audit chain (`vigil.<site>.heads`): the hub keeps it
    as a witness and checks it with the site's key. `public_key` (PEM) is that key, pinned by
    the hub the first time it sees the site (0065)."""

    site: str = ""  # the sending site (the hub also checks the subject and account)
    seq: int
    hash: str
    time: Instant  # when the site signed it; part of the signed message
    signature: str  # hex
    key_id: str
    public_key: str = ""


def head_msg_id(site: str, seq: int, hash_: str) -> str:
    return f"{site}-head-{seq}-{hash_[:16]}"


class CameraStatus(WireModel):
    """A camera's new status (`vigil.<site>.status.<camera>`)."""

    site: str = ""  # the sending site (the hub also checks the subject and account)
    camera: str
    status: str
    at: Instant | None = None


class ObjectionCopy(WireModel):
    """An objection to recognition recorded at the site (`vigil.<site>.objections`): what
    honouring it needs and nothing more (no photo, no name). The hub keeps it and pushes it to
    every other site (`ObjectionPut`)."""

    site: str = ""  # the sending site (the hub also checks the subject and account)
    uid: str
    model: str
    embedding: str  # base64 of the float32 template
    reason: str
    reference: str | None = ""
    recorded_by: str = ""
    recorded_at: Instant


def objection_msg_id(site: str, uid: str) -> str:
    return f"{site}-objection-{uid}"


@dataclass(frozen=True)
class Thumbnail:
    """An event's snapshot (`vigil.<site>.thumbs.<camera>`): the body is the JPEG, what it
    belongs to travels in headers (the body has no room for a schema)."""

    uid: str
    version: int

    EVENT: ClassVar[str] = "Vigil-Event"
    VERSION: ClassVar[str] = "Vigil-Version"

    def headers(self) -> dict[str, str]:
        return {
            "Nats-Msg-Id": f"thumb-{self.uid}:{self.version}",
            self.EVENT: self.uid,
            self.VERSION: str(self.version),
        }

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Thumbnail | None:
        uid = headers.get(cls.EVENT, "")
        if not uid:
            return None
        return cls(uid, int(headers.get(cls.VERSION) or 0))


def event_msg_id(uid: str, version: int) -> str:
    """`Nats-Msg-Id` of an event change: the stream drops a replay within its window."""
    return f"{uid}:{version}"


def audit_msg_id(site: str, seq: int) -> str:
    return f"{site}-audit-{seq}"


# --- hub -> site: commands (`vigil.<site>.cmd.<verb>`) and replies ---


class Push(WireModel):
    """A hub gallery push: `person.remove` and `watchlist.remove` are just this."""

    uid: str = ""
    by: str | None = None  # the hub user whose change sent it
    reason: str | None = ""


class PushedTemplate(WirePart):
    sha256: str
    model: str
    quality: float
    embedding: str  # base64 of the float32 vector


class PersonPut(Push):
    """`person.put`: the person's whole state at the hub, and why."""

    name: str = ""
    legal_basis: str
    legal_basis_note: str | None = ""
    review_at: Instant | None = None
    enrolled_by: str | None = ""
    requested_by: str | None = ""
    templates: list[PushedTemplate] = Field(default_factory=list)


class WatchlistPut(Push):
    """`watchlist.put`: the list's whole state; members by hub uid."""

    name: str = ""
    action: str
    notes: str | None = ""
    members: list[str] = Field(default_factory=list)
    # People who confirm a match before it is acted on; None (an older hub): the site's
    # default for the action (`vigil.events.verification.default_confirmations`).
    confirmations_required: int | None = None


class ObjectionPut(Push):
    """`objection.put`: an objection recorded at `origin_site`, to be honoured here too."""

    origin_site: str
    model: str
    embedding: str  # base64 of the float32 template
    reference: str | None = ""
    recorded_by: str | None = ""
    recorded_at: Instant


class Reply(WireModel):
    """A site's answer to a command: `ok`, or not and why (`error`)."""

    ok: bool = True
    error: str | None = None


class PersonPutReply(Reply):
    person_id: int
    added: int
    removed: int
    changed: bool


class RemoveReply(Reply):
    removed: bool
    templates: int | None = None
    events_cleared: int | None = None


class WatchlistPutReply(Reply):
    watchlist_id: int
    changed: bool
    missing_members: list[str] = Field(default_factory=list)


class AuditHeadAsk(WireModel):
    """`audit.head`: the site's chain as it is now, and its hashes at `seqs` (the heads and
    records the hub holds)."""

    seqs: list[int] = Field(default_factory=list, max_length=100_000)


class AuditHeadReply(Reply):
    last_seq: int | None  # the newest record (None: the log is empty)
    last_hash: str | None
    anchor_seq: int | None = None  # records up to it were removed by audit retention
    hashes: dict[int, str | None] = Field(default_factory=dict)  # asked seq -> hash, None: gone


class ClipRequestBody(WireModel):
    """`clip`: a stretch of one camera's footage, for `who`, because `reason`."""

    camera: str
    start: Moment
    end: Moment
    reason: str = ""
    who: str = ""
    redact: bool = True


class ClipReady(Reply):
    """Where the site put the clip: its `VIGIL_CLIPS` object store, `object` in `bucket`."""

    bucket: str
    object: str
    clip_name: str
    size: int
    sha256: str
    start: Moment
    end: Moment
    redacted: bool
    manifest_sha256: str


class ClipMissing(Reply):
    """No footage of that camera in that range, or no such camera (still `ok`)."""

    not_found: str


def read_clip_reply(data: bytes | str) -> ClipReady | ClipMissing | Reply:
    """A site's answer to `clip`: refused (`ok` false), not found, or ready."""
    body = json_object(data)
    if not body.get("ok"):
        return Reply.read(body)
    return (ClipMissing if "not_found" in body else ClipReady).read(body)
