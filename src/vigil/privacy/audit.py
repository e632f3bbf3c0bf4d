"""The tamper-evident audit log: who accessed which personal data, when, from where and why.

Call it wherever personal data is accessed or a privacy setting changes::

    from vigil.privacy.audit import Action, AuditLog

    audit = AuditLog.from_config(config)  # cheap; keep one per process or make one per call
    audit.record(db, actor="alice", action=Action.search_face, reason="theft report 2026-114",
                 source="cli", camera="gate", person=42, details={"results": 3})

In a CLI command: `AuditLog.from_config(st.config).record(st.db(), actor=current_user(),
source="cli", ...)`; in the API, `source` is the client address and `role` the user's role.

`record(where, *, actor, action, ...)` takes the `Database` (the record commits on its own) or
a `Session` (the record commits or rolls back with the caller's own change, e.g. an enrolment
and its audit record together). It returns the stored `AuditRecord`. Searches, identification,
exports, unmasked viewing and subject-access requests need a stated `reason`: without one it
raises `ReasonRequired` (an `InputError`) before anything is searched or written.
Pass `person` as the person's id (an int): a name would outlive the person's deletion here.

Records form a hash chain: `hash = SHA-256(canonical JSON of the record's fields + prev_hash)`,
`seq` counts 1, 2, 3 ... without gaps. Appends are serialised (SQLite `BEGIN IMMEDIATE`, a
PostgreSQL advisory lock, a lock per process), so concurrent writers never fork the chain.
Every `checkpoint_every` records, and on demand, a checkpoint signs (seq, hash, time) with the
site's Ed25519 key: rewriting the chain after a checkpoint needs that key. `verify` walks the
chain and reports the first altered, missing or reordered record and every bad checkpoint.
Audit rows are never updated, and deleted only by `truncate` (audit retention): records
older than the retention, up to and including a signed checkpoint, go after an *anchor* is
stored in the same transaction (the checkpoint's seq and hash, its signature, what was removed,
all signed). `verify` then starts from the newest anchor. The database triggers refuse every
other UPDATE or DELETE (migrations 0003, 0010).
"""

from __future__ import annotations

import enum
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import RowMapping, delete, func, select
from sqlalchemy.orm import Session

from vigil.config import VigilConfig
from vigil.errors import InputError
from vigil.privacy import keys
from vigil.store.base import utcnow
from vigil.store.db import Database
from vigil.store.models.audit import AuditAnchor, AuditCheckpoint, AuditRecord

GENESIS = "0" * 64
FIELDS = (
    "seq",
    "time",
    "actor",
    "role",
    "action",
    "target_kind",
    "target_id",
    "camera",
    "person",
    "reason",
    "source",
    "details",
)
_PG_LOCK_KEY = 0x5669_6769_6C41  # "VigilA": one advisory lock for the audit chain
_MAX_PROBLEMS = 100


class Action(enum.StrEnum):
    view_live = "view_live"
    view_recording = "view_recording"
    view_events = "view_events"
    view_audit = "view_audit"
    export = "export"
    search_face = "search_face"
    search_person = "search_person"
    identify = "identify"
    subject_access = "subject_access"
    enroll = "enroll"
    check_photos = "check_photos"  # photos judged for enrolment, nothing stored (issue 13)
    remove_person = "remove_person"
    lock_footage = "lock_footage"
    ack_footage = "ack_footage"  # lost (missing or damaged) footage acknowledged (issue 12)
    unlock_view = "unlock_view"
    unmask_view = "unmask_view"  # people revealed on a privacy-protected camera (issue 7)
    change_retention = "change_retention"
    change_masks = "change_masks"
    change_zones = "change_zones"
    change_watchlist = "change_watchlist"
    change_user = "change_user"
    change_role = "change_role"
    change_config = "change_config"
    login = "login"
    logout = "logout"
    retention_run = "retention_run"
    audit_verify = "audit_verify"
    audit_truncate = "audit_truncate"
    rotate_key = "rotate_key"
    recognition_start = "recognition_start"  # live recognition began on a camera (issue 16)
    recognition_stop = "recognition_stop"
    recognition_match = "recognition_match"  # a known person named on a live camera
    match_verify = "match_verify"  # a person confirmed or rejected a match (issue 16)
    objection_recorded = "objection_recorded"  # a face never to be identified (issue 16)
    consent_withdrawn = "consent_withdrawn"  # an enrolled person removed at their request
    ptz_move = "ptz_move"  # a camera moved or sent to a preset from the API (issue 17)


# Looking someone up, taking footage out, or lifting a mask: never without a stated reason.
REASON_REQUIRED = frozenset(
    {
        Action.export,
        Action.search_face,
        Action.search_person,
        Action.identify,
        Action.subject_access,
        Action.unlock_view,
        Action.unmask_view,
        Action.check_photos,
        Action.match_verify,
        Action.objection_recorded,
        Action.consent_withdrawn,
    }
)


class ReasonRequired(InputError):
    """A search, export or unmasking was asked for without a stated reason."""


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def record_hash(values: Mapping[str, Any] | RowMapping, prev_hash: str) -> str:
    """SHA-256 (hex) of a record's fields and the previous record's hash."""
    doc = {name: values[name] for name in FIELDS}
    doc["time"] = _iso(values["time"])
    doc["prev_hash"] = prev_hash
    return hashlib.sha256(_canonical(doc)).hexdigest()


def checkpoint_message(seq: int, hash_: str, time: datetime) -> bytes:
    """The bytes a checkpoint signs."""
    return f"vigil-audit-checkpoint/1\nseq={seq}\nhash={hash_}\ntime={_iso(time)}".encode()


def anchor_message(a: AuditAnchor) -> bytes:
    """The bytes an anchor signs: where the chain now starts and what was removed before it."""
    return (
        f"vigil-audit-anchor/1\nseq={a.seq}\nhash={a.hash}\nfirst_seq={a.first_seq}\n"
        f"records={a.records_removed}\ncheckpoints={a.checkpoints_removed}\n"
        f"from={_iso(a.removed_from)}\nto={_iso(a.removed_to)}\ntime={_iso(a.time)}\n"
        f"checkpoint_time={_iso(a.checkpoint_time)}\ncheckpoint_key={a.checkpoint_key_id}\n"
        f"checkpoint_signature={a.checkpoint_signature}"
    ).encode()


def _normalise_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Details as they will read back from the JSON column (so the hash still matches)."""
    if not details:
        return {}
    try:
        return json.loads(json.dumps(dict(details), default=str, allow_nan=False))
    except ValueError as exc:
        raise InputError(f"audit details cannot be stored as JSON: {exc}") from exc


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(url: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(url, threading.Lock())


def _lock_chain(s: Session) -> None:
    """Take the database's write lock before reading the chain's head (held to commit)."""
    conn = s.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # pysqlite opens its transaction lazily (at the first INSERT/UPDATE/DELETE). Already in
        # one means this connection wrote, so it holds SQLite's single write lock already.
        raw = cast(sqlite3.Connection, conn.connection.dbapi_connection)  # pysqlite's
        if not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")


@contextmanager
def _session(where: Database | Session) -> Iterator[tuple[Session, bool]]:
    """(session, owned): a new session committed here for a Database, else the caller's."""
    if isinstance(where, Session):
        yield where, False
        return
    with _process_lock(where.url), where.session() as s:
        yield s, True


@dataclass(frozen=True)
class Problem:
    kind: str  # altered | missing | reordered | checkpoint_signature | checkpoint_mismatch
    seq: int | None  # checkpoint_unknown_key | checkpoint_missing_record | checkpoint_no_key
    message: str  # checkpoint_key_expired | anchor_signature | anchor_mismatch


@dataclass
class TruncateResult:
    """What one audit truncation removed (zeros and a note when nothing could go)."""

    anchor_seq: int | None = None  # the last removed record (a checkpoint)
    records_removed: int = 0
    checkpoints_removed: int = 0
    removed_from: datetime | None = None
    removed_to: datetime | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "anchor_seq": self.anchor_seq,
            "records_removed": self.records_removed,
            "checkpoints_removed": self.checkpoints_removed,
            "removed_from": _iso(self.removed_from) if self.removed_from else None,
            "removed_to": _iso(self.removed_to) if self.removed_to else None,
            "note": self.note,
        }


def _anchor_dict(a: AuditAnchor) -> dict[str, Any]:
    return {
        "seq": a.seq,
        "hash": a.hash,
        "first_seq": a.first_seq,
        "records_removed": a.records_removed,
        "removed_from": _iso(a.removed_from),
        "removed_to": _iso(a.removed_to),
        "time": _iso(a.time),
        "key_id": a.key_id,
    }


@dataclass
class VerifyReport:
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str = GENESIS
    checkpoints: int = 0
    checkpoints_ok: int = 0
    key_id: str | None = None
    anchor: dict[str, Any] | None = None  # the newest truncation anchor the walk started from
    anchors: int = 0
    problems: list[Problem] = field(default_factory=list)
    witness: dict[str, Any] | None = None  # how far back it is witnessed (`witness.check`)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        chain = [p for p in self.problems if p.seq is not None]
        return min(chain, key=lambda p: p.seq or 0) if chain else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "checkpoints": self.checkpoints,
            "checkpoints_ok": self.checkpoints_ok,
            "key_id": self.key_id,
            "anchor": self.anchor,
            "anchors": self.anchors,
            "problems": [p.__dict__ for p in self.problems],
            "witness": self.witness,
        }


class AuditLog:
    """Appends to, checkpoints and verifies the audit chain of one site."""

    def __init__(self, data_dir: Path, *, checkpoint_every: int = 1000) -> None:
        self.data_dir = data_dir
        self.checkpoint_every = checkpoint_every
        self._key: keys.SiteKey | None = None
        self._key_stamp: tuple[int, int] | None = None

    @classmethod
    def from_config(cls, config: VigilConfig) -> AuditLog:
        keys.configure(config.storage.data_dir, config.privacy.signing_key_passphrase_file)
        return cls(config.storage.data_dir, checkpoint_every=config.privacy.audit_checkpoint_every)

    @property
    def key(self) -> keys.SiteKey:
        """The site key, loaded again when its file changed (a rotation by another process)."""
        stamp = keys.file_stamp(self.data_dir)
        if self._key is None or stamp != self._key_stamp:
            self._key = keys.load_or_create(self.data_dir)
            self._key_stamp = keys.file_stamp(self.data_dir)
        return self._key

    def record(
        self,
        where: Database | Session,
        *,
        actor: str,
        action: Action | str,
        role: str = "",
        target: tuple[str, object] | None = None,
        reason: str = "",
        source: str = "",
        camera: str | None = None,
        person: int | str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one record; raise ReasonRequired for a search/export without a reason."""
        try:
            action = Action(action)
        except ValueError as exc:
            raise InputError(f"unknown audit action {action!r}") from exc
        reason = reason.strip()
        if action in REASON_REQUIRED and not reason:
            raise ReasonRequired(
                f"{action.value.replace('_', ' ')} needs a stated reason",
                hint="say why, e.g. --reason 'incident 2026-114: stolen bicycle'",
            )
        if not actor.strip():
            raise InputError("an audit record needs an actor (who did it)")
        values: dict[str, Any] = {
            "actor": actor,
            "role": role,
            "action": action.value,
            "target_kind": target[0] if target else "",
            "target_id": str(target[1]) if target else "",
            "camera": camera,
            "person": None if person is None else str(person),
            "reason": reason,
            "source": source,
            "details": _normalise_details(details),
        }
        with _session(where) as (s, _owned):
            _lock_chain(s)
            head = s.execute(
                select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
            ).first()
            if head is None:  # empty, or audit retention removed every record: after its anchor
                head = s.execute(
                    select(AuditAnchor.seq, AuditAnchor.hash)
                    .order_by(AuditAnchor.seq.desc())
                    .limit(1)
                ).first()
            seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
            values["seq"] = seq
            values["time"] = utcnow()
            rec = AuditRecord(**values, prev_hash=prev, hash=record_hash(values, prev))
            s.add(rec)
            s.flush()
            if self.checkpoint_every > 0 and seq % self.checkpoint_every == 0:
                self._sign(s, seq, rec.hash)
        return rec

    def _sign(self, s: Session, seq: int, hash_: str) -> AuditCheckpoint:
        t = utcnow()
        sig = self.key.sign(checkpoint_message(seq, hash_, t))
        cp = AuditCheckpoint(
            seq=seq, hash=hash_, time=t, signature=sig.hex(), key_id=self.key.key_id
        )
        s.add(cp)
        s.flush()
        return cp

    def checkpoint(self, where: Database | Session) -> AuditCheckpoint | None:
        """Sign the chain's head now (None when the log is empty; the existing one if signed)."""
        with _session(where) as (s, _owned):
            _lock_chain(s)
            head = s.execute(
                select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
            ).first()
            if head is None:
                return None
            existing = s.scalars(
                select(AuditCheckpoint).where(AuditCheckpoint.seq == head.seq)
            ).first()
            return existing or self._sign(s, head.seq, head.hash)

    def checkpoint_if_older(
        self, where: Database | Session, max_age: timedelta
    ) -> AuditCheckpoint | None:
        """Sign the head when the newest checkpoint is older than `max_age` (or there is none),
        so a quiet site still gets checkpoints that audit retention can cut at."""
        with _session(where) as (s, _owned):
            newest = s.scalar(select(func.max(AuditCheckpoint.time)))
            if newest is not None and utcnow() - newest < max_age:
                return None
            return self.checkpoint(s)

    def verify(
        self,
        where: Database | Session,
        *,
        key: keys.VerifyKey | list[keys.VerifyKey] | None = None,
    ) -> VerifyReport:
        """Walk the chain from its anchor and check every checkpoint and anchor.

        `key`: public key(s) an auditor kept; default the site's keys, retired ones included
        (each accepted only for signatures made while it was the site key).
        """
        with _session(where) as (s, _owned):
            return _verify(s, self.ring(key))

    def ring(self, key: keys.VerifyKey | list[keys.VerifyKey] | None) -> dict[str, keys.KeyEntry]:
        """The public keys to check signatures with: `key` (an auditor's copies), or the
        site's own (retired ones included)."""
        if key is None:
            return keys.keyring(self.data_dir)
        given = key if isinstance(key, list) else [key]
        return {k.key_id: keys.KeyEntry(k) for k in given}

    def truncate(
        self,
        db: Database,
        *,
        before: datetime,
        actor: str = "system",
        source: str = "retention",
    ) -> TruncateResult:
        """Delete records older than `before`, up to the newest signed checkpoint among them.

        Nothing goes unless the chain verifies first (a deletion must not hide tampering).
        The anchor, the deletion and an `audit_truncate` record commit together.
        """
        result = TruncateResult()
        with db.session() as s:
            cut = _cut_point(s, before)
        if cut is None:
            result.note = "no signed checkpoint among the records past retention"
            return result
        report = self.verify(db)
        if not report.ok:
            first = report.first_problem or report.problems[0]
            result.note = f"the audit chain does not verify, nothing deleted: {first.message}"
            return result
        with _session(db) as (s, _owned):
            _lock_chain(s)
            cut = _cut_point(s, before)  # again, under the lock
            if cut is None:
                result.note = "no signed checkpoint among the records past retention"
                return result
            self._remove_up_to(s, cut, result)
            self.record(
                s,
                actor=actor,
                action=Action.audit_truncate,
                source=source,
                target=("audit_anchor", result.anchor_seq),
                details=result.as_dict(),
            )
        return result

    def _remove_up_to(self, s: Session, cp: AuditCheckpoint, result: TruncateResult) -> None:
        floor = s.scalar(select(func.max(AuditAnchor.seq))) or 0
        first, count, t0, t1 = s.execute(
            select(
                func.min(AuditRecord.seq),
                func.count(AuditRecord.seq),
                func.min(AuditRecord.time),
                func.max(AuditRecord.time),
            ).where(AuditRecord.seq > floor, AuditRecord.seq <= cp.seq)
        ).one()
        cps = s.scalar(select(func.count(AuditCheckpoint.id)).where(AuditCheckpoint.seq <= cp.seq))
        key = self.key
        anchor = AuditAnchor(
            seq=cp.seq,
            hash=cp.hash,
            first_seq=first,
            records_removed=count,
            checkpoints_removed=int(cps or 0),
            removed_from=t0,
            removed_to=t1,
            time=utcnow(),
            checkpoint_time=cp.time,
            checkpoint_signature=cp.signature,
            checkpoint_key_id=cp.key_id,
            signature="",
            key_id=key.key_id,
        )
        anchor.signature = key.sign(anchor_message(anchor)).hex()
        s.add(anchor)
        s.flush()  # the anchor first: the delete triggers only let rows at or below it go
        s.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq <= cp.seq))
        s.execute(delete(AuditRecord).where(AuditRecord.seq <= cp.seq))
        result.anchor_seq = cp.seq
        result.records_removed = count
        result.checkpoints_removed = int(cps or 0)
        result.removed_from, result.removed_to = t0, t1

    def query(
        self,
        where: Database | Session,
        *,
        actor: str | None = None,
        action: Action | str | None = None,
        person: str | list[str] | None = None,
        camera: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Records matching every given filter, newest first (`person`: id(s) as text)."""
        q = select(AuditRecord)
        if actor:
            q = q.where(AuditRecord.actor == actor)
        if action:
            q = q.where(AuditRecord.action == str(action))
        if person:
            q = q.where(AuditRecord.person.in_([person] if isinstance(person, str) else person))
        if camera:
            q = q.where(AuditRecord.camera == camera)
        if since:
            q = q.where(AuditRecord.time >= since)
        if until:
            q = q.where(AuditRecord.time < until)
        q = q.order_by(AuditRecord.seq.desc()).limit(limit)
        if isinstance(where, Session):
            return list(where.scalars(q))
        with where.session() as s:
            return list(s.scalars(q))


def _cut_point(s: Session, before: datetime) -> AuditCheckpoint | None:
    """The newest checkpoint after the last anchor whose record and all before it are older
    than `before` (and whose record is still there, unchanged)."""
    floor = s.scalar(select(func.max(AuditAnchor.seq))) or 0
    young = s.scalar(select(func.min(AuditRecord.seq)).where(AuditRecord.time >= before))
    q = (
        select(AuditCheckpoint)
        .join(AuditRecord, AuditRecord.seq == AuditCheckpoint.seq)
        .where(AuditCheckpoint.seq > floor, AuditRecord.hash == AuditCheckpoint.hash)
    )
    if young is not None:
        q = q.where(AuditCheckpoint.seq < young)
    return s.scalars(q.order_by(AuditCheckpoint.seq.desc()).limit(1)).first()


def _current_key_id(ring: Mapping[str, keys.KeyEntry]) -> str | None:
    current = [kid for kid, e in ring.items() if e.valid_until is None]
    return current[0] if current else next(iter(ring), None)


def _verify(s: Session, ring: Mapping[str, keys.KeyEntry]) -> VerifyReport:
    report = VerifyReport(key_id=_current_key_id(ring))
    problems = report.problems
    checkpoints = {cp.seq: cp for cp in s.scalars(select(AuditCheckpoint))}
    report.checkpoints = len(checkpoints)

    def add(kind: str, seq: int | None, message: str) -> None:
        if len(problems) < _MAX_PROBLEMS:
            problems.append(Problem(kind, seq, message))

    anchors = list(s.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)))
    report.anchors = len(anchors)
    for a in anchors:
        _check_anchor(a, ring, add)
    anchor = anchors[-1] if anchors else None
    prev_seq: int | None = anchor.seq if anchor else None
    prev_hash = anchor.hash if anchor else GENESIS
    if anchor is not None:
        report.anchor = _anchor_dict(anchor)
        checkpoints = {seq: cp for seq, cp in checkpoints.items() if seq > anchor.seq}
        report.checkpoints = len(checkpoints)
    after_anchor = True  # the next row is the first after the anchor (or the genesis)
    table = AuditRecord.__table__
    q = select(table).order_by(table.c.seq)
    if anchor is not None:
        q = q.where(table.c.seq > anchor.seq)
    rows = s.execute(q).mappings().yield_per(2000)
    for row in rows:
        seq = row["seq"]
        report.records += 1
        if report.first_seq is None:
            report.first_seq = seq
        expected = 1 if prev_seq is None else prev_seq + 1
        if seq != expected:
            gone = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
            add("missing", expected, f"record {gone} missing (deleted): the chain jumps to {seq}")
        actual = record_hash(row, row["prev_hash"])
        if seq == expected and row["prev_hash"] != prev_hash:
            other = s.scalar(select(table.c.seq).where(table.c.hash == row["prev_hash"]))
            if other is not None:
                add("reordered", seq, f"record {seq} follows record {other}, not {prev_seq}")
            elif after_anchor and anchor is not None:
                add(
                    "anchor_mismatch",
                    seq,
                    f"record {seq} does not chain to the anchor at record {anchor.seq} "
                    f"(truncation of {_iso(anchor.time)[:10]}): record {seq} or the anchor "
                    "was altered",
                )
            elif actual == row["hash"] and prev_seq is not None:
                # This record is intact and still names the original predecessor.
                add(
                    "altered",
                    prev_seq,
                    f"record {prev_seq} was altered and its hash recomputed: record {seq} "
                    "still links to the original",
                )
            elif prev_seq is None:
                add("missing", seq, f"record {seq} does not start the chain: its start is gone")
        if actual != row["hash"]:
            add("altered", seq, f"record {seq} was altered: its content does not match its hash")
        cp = checkpoints.get(seq)
        if cp is not None:
            _check_checkpoint(cp, row["hash"], actual, ring, add, report)
        prev_seq, prev_hash = seq, row["hash"]
        after_anchor = False
    if report.records == 0 and anchor is not None:
        report.first_seq = None
    report.last_seq, report.last_hash = prev_seq, prev_hash
    for cp_seq in sorted(checkpoints):
        if prev_seq is None or cp_seq > prev_seq:
            add(
                "checkpoint_missing_record",
                cp_seq,
                f"checkpoint {cp_seq} signs a record that is gone: records after "
                f"{prev_seq or 0} up to {cp_seq} were deleted",
            )
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def _signed_by(
    ring: Mapping[str, keys.KeyEntry],
    key_id: str,
    signature_hex: str,
    message: bytes,
    when: datetime,
) -> str | None:
    """None when `key_id` is a known key that signed `message` while valid, else what is wrong."""
    if not ring:
        return "no public key to check its signature"
    entry = ring.get(key_id)
    if entry is None:
        return f"is signed by key {key_id}, not by the site key {_current_key_id(ring)}"
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        signature = b""
    if not entry.key.verify(signature, message):
        return "has a bad signature (forged or altered)"
    if not entry.covers(when):
        return (
            f"is signed by key {key_id} at {_iso(when)}, outside the time that key was the site key"
        )
    return None


def head_problem(
    ring: Mapping[str, keys.KeyEntry],
    key_id: str,
    signature: str,
    seq: int,
    hash_: str,
    time: datetime,
) -> str | None:
    """None when a checkpoint (a head, e.g. a witness's copy) is signed by one of `ring`'s
    keys while it was valid, else what is wrong."""
    return _signed_by(ring, key_id, signature, checkpoint_message(seq, hash_, time), time)


def _check_anchor(a: AuditAnchor, ring: Mapping[str, keys.KeyEntry], add: Any) -> None:
    what = (
        f"anchor at record {a.seq} (truncation of {_iso(a.time)[:10]}, "
        f"{a.records_removed} record(s) removed)"
    )
    wrong = _signed_by(ring, a.key_id, a.signature, anchor_message(a), a.time)
    if wrong is not None:
        add("anchor_signature", a.seq, f"{what} {wrong}")
        return
    wrong = _signed_by(
        ring,
        a.checkpoint_key_id,
        a.checkpoint_signature,
        checkpoint_message(a.seq, a.hash, a.checkpoint_time),
        a.checkpoint_time,
    )
    if wrong is not None:
        add("anchor_signature", a.seq, f"{what}: its checkpoint {wrong}")


def _check_checkpoint(
    cp: AuditCheckpoint,
    stored: str,
    actual: str,
    ring: Mapping[str, keys.KeyEntry],
    add: Any,
    report: VerifyReport,
) -> None:
    seq = cp.seq
    if not ring:
        add("checkpoint_no_key", seq, f"checkpoint {seq}: no public key to check its signature")
        return
    if cp.key_id not in ring:
        add(
            "checkpoint_unknown_key",
            seq,
            f"checkpoint {seq} is signed by key {cp.key_id}, not by the site key "
            f"{_current_key_id(ring)}",
        )
        return
    wrong = _signed_by(
        ring, cp.key_id, cp.signature, checkpoint_message(seq, cp.hash, cp.time), cp.time
    )
    if wrong is not None:
        kind = "checkpoint_key_expired" if "outside the time" in wrong else "checkpoint_signature"
        add(kind, seq, f"checkpoint {seq} {wrong}")
        return
    if cp.hash != stored or cp.hash != actual:
        add(
            "checkpoint_mismatch",
            seq,
            f"checkpoint {seq} signed a different record {seq}: the chain up to it was "
            "rewritten after it was signed",
        )
        return
    report.checkpoints_ok += 1
