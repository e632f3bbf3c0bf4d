"""Reading the recognition log back: periods and matches with their verifiers; the export.

`recognition_report(db, camera=, since=, until=)` lists the periods that overlap the range
(`recognition_periods`) and the matches made in it (`recognition_match` audit records), each
with the people who verified it (`match_verify` audit records naming its event) and what
became of its snapshot (the picture at the time of the match, by its SHA-256): `kept`,
`replaced` (completing the event stored a better view of the same track under the same name;
the footage still holds the moment), `deleted by retention` (the event or its picture expired:
the match record stays) or `missing`. `vigil audit show --kind recognition`, `GET
/api/v1/audit/recognition` and the web UI's audit page show it.

`export_recognition_log` writes the same report for an authority as one JSON document, with
the audit records it rests on (every field, `prev_hash` and `hash`, so each can be checked
against the chain) and the chain range it covers (first and last seq, the head's hash, the
newest signed checkpoint), and signs it with the site key through the export manifest
(`privacy.manifest`: `vigil export verify FILE`, offline with `--pubkey`). Exporting is
audited (`export`, with its reason).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vigil.errors import InputError
from vigil.files import write_atomic
from vigil.privacy.audit import FIELDS, Action, AuditLog
from vigil.privacy.manifest import write_manifest
from vigil.store.db import Database
from vigil.store.models import AuditCheckpoint, AuditRecord, Event, Person
from vigil.store.models.recognition import RecognitionPeriod

FORMAT = "vigil-recognition-log/1"
KIND = "recognition_log"
SNAPSHOT_KEPT = "kept"
SNAPSHOT_RETAINED_OUT = "deleted by retention"
SNAPSHOT_MISSING = "missing"
SNAPSHOT_REPLACED = "replaced"
SNAPSHOT_NONE = "none"


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat(timespec="seconds")


@dataclass
class Verification:
    seq: int
    time: str
    actor: str
    role: str
    verdict: str
    reason: str


@dataclass
class PeriodRow:
    id: int
    camera: str
    start: str
    end: str | None  # None: running now
    ended_by: str
    last_seen: str
    model: str
    threshold: float
    gallery_hash: str
    templates: int
    people: int
    watchlists: list[dict[str, Any]]
    start_seq: int | None
    stop_seq: int | None


@dataclass
class MatchRow:
    seq: int
    time: str
    camera: str | None
    event: str
    person_id: int | None
    person: str | None  # the name while the person is still enrolled
    score: float | None
    confidence: float | None
    threshold: float | None
    model: str | None
    period: int | None
    gallery_hash: str | None
    snapshot: str | None
    snapshot_sha256: str | None
    snapshot_state: str
    verified_by: list[Verification] = field(default_factory=list)


@dataclass
class RecognitionReport:
    camera: str | None
    since: str | None
    until: str | None
    periods: list[PeriodRow] = field(default_factory=list)
    matches: list[MatchRow] = field(default_factory=list)
    records: list[AuditRecord] = field(default_factory=list, repr=False)  # what it rests on

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "since": self.since,
            "until": self.until,
            "periods": [asdict(p) for p in self.periods],
            "matches": [asdict(m) for m in self.matches],
        }


def _period_row(p: RecognitionPeriod) -> PeriodRow:
    return PeriodRow(
        id=p.id,
        camera=p.camera,
        start=_iso(p.started_at) or "",
        end=_iso(p.ended_at),
        ended_by=p.ended_by,
        last_seen=_iso(p.last_seen_at) or "",
        model=p.model,
        threshold=p.threshold,
        gallery_hash=p.gallery_hash,
        templates=p.templates,
        people=p.people,
        watchlists=list(p.watchlists or []),
        start_seq=p.start_seq,
        stop_seq=p.stop_seq,
    )


def _snapshot_state(
    s: Session, uid: str, snapshot: str | None, sha256: str | None, data_dir: Path | None
) -> str:
    if snapshot is None:
        return SNAPSHOT_NONE
    stored = s.scalar(select(Event.snapshot).where(Event.uid == uid))
    if stored is None:  # the event or its picture expired
        return SNAPSHOT_RETAINED_OUT
    if data_dir is None:
        return SNAPSHOT_KEPT
    try:
        now = hashlib.sha256((data_dir / stored).read_bytes()).hexdigest()
    except OSError:
        return SNAPSHOT_MISSING
    return SNAPSHOT_KEPT if sha256 is None or now == sha256 else SNAPSHOT_REPLACED


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) else None


def recognition_report(
    where: Database | Session,
    *,
    camera: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    person: list[str] | None = None,
    data_dir: Path | None = None,
    limit: int = 1000,
) -> RecognitionReport:
    """Periods overlapping [since, until) and matches in it (newest first), with verifiers.
    `person`: only matches of these person ids (as text); periods are everyone's."""
    if since and until and until <= since:
        raise InputError("--until must be after --since")
    if isinstance(where, Session):
        return _report(where, camera, since, until, person, data_dir, limit)
    with where.session() as s:
        return _report(s, camera, since, until, person, data_dir, limit)


def _report(
    s: Session,
    camera: str | None,
    since: datetime | None,
    until: datetime | None,
    person: list[str] | None,
    data_dir: Path | None,
    limit: int,
) -> RecognitionReport:
    report = RecognitionReport(camera, _iso(since), _iso(until))
    q = select(RecognitionPeriod)
    if camera:
        q = q.where(RecognitionPeriod.camera == camera)
    if until:
        q = q.where(RecognitionPeriod.started_at < until)
    if since:
        q = q.where(or_(RecognitionPeriod.ended_at.is_(None), RecognitionPeriod.ended_at >= since))
    periods = list(s.scalars(q.order_by(RecognitionPeriod.started_at.desc()).limit(limit)))
    report.periods = [_period_row(p) for p in periods]
    seqs = [seq for p in periods for seq in (p.start_seq, p.stop_seq) if seq is not None]
    records = list(s.scalars(select(AuditRecord).where(AuditRecord.seq.in_(seqs)))) if seqs else []
    m = select(AuditRecord).where(AuditRecord.action == Action.recognition_match.value)
    if camera:
        m = m.where(AuditRecord.camera == camera)
    if person:
        m = m.where(AuditRecord.person.in_(person))
    if since:
        m = m.where(AuditRecord.time >= since)
    if until:
        m = m.where(AuditRecord.time < until)
    matches = list(s.scalars(m.order_by(AuditRecord.seq.desc()).limit(limit)))
    records += matches
    verdicts = _verifications(s, matches)
    records += [r for rs in verdicts.values() for r in rs]
    names = {pid: name for pid, name in s.execute(select(Person.id, Person.name))}
    for r in matches:
        d = r.details or {}
        uid = str(d.get("event") or r.target_id)
        pid = int(r.person) if r.person and r.person.isdigit() else None
        report.matches.append(
            MatchRow(
                seq=r.seq,
                time=_iso(r.time) or "",
                camera=r.camera,
                event=uid,
                person_id=pid,
                person=names.get(pid) if pid is not None else None,
                score=_num(d.get("score")),
                confidence=_num(d.get("confidence")),
                threshold=_num(d.get("threshold")),
                model=d.get("model"),
                period=d.get("period"),
                gallery_hash=d.get("gallery_hash"),
                snapshot=d.get("snapshot"),
                snapshot_sha256=d.get("snapshot_sha256"),
                snapshot_state=_snapshot_state(
                    s, uid, d.get("snapshot"), d.get("snapshot_sha256"), data_dir
                ),
                verified_by=[
                    Verification(
                        seq=v.seq,
                        time=_iso(v.time) or "",
                        actor=v.actor,
                        role=v.role,
                        verdict=str((v.details or {}).get("verdict", "")),
                        reason=v.reason,
                    )
                    for v in verdicts.get(uid, [])
                ],
            )
        )
    report.records = sorted({r.seq: r for r in records}.values(), key=lambda r: r.seq)
    return report


def _verifications(s: Session, matches: list[AuditRecord]) -> dict[str, list[AuditRecord]]:
    """`match_verify` records by the event uid they name (made after the first match)."""
    if not matches:
        return {}
    uids = {str((r.details or {}).get("event") or r.target_id) for r in matches}
    first = min(r.seq for r in matches)
    out: dict[str, list[AuditRecord]] = {}
    q = select(AuditRecord).where(
        AuditRecord.action == Action.match_verify.value, AuditRecord.seq > first
    )
    for v in s.scalars(q.order_by(AuditRecord.seq)):
        uid = str((v.details or {}).get("event", ""))
        if uid in uids:
            out.setdefault(uid, []).append(v)
    return out


def _record_doc(r: AuditRecord) -> dict[str, Any]:
    doc = {name: getattr(r, name) for name in FIELDS}
    doc["time"] = r.time.astimezone(UTC).isoformat(timespec="microseconds")
    return {**doc, "prev_hash": r.prev_hash, "hash": r.hash}


def chain_range(s: Session, records: list[AuditRecord]) -> dict[str, Any]:
    """Where the exported records sit in the chain, and the signed checkpoint that covers
    them (the newest one; None while the head is unsigned: `vigil audit checkpoint`)."""
    head = s.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    cp = s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()
    return {
        "first_seq": records[0].seq if records else None,
        "last_seq": records[-1].seq if records else None,
        "head_seq": head.seq if head else None,
        "head_hash": head.hash if head else None,
        "checkpoint": None
        if cp is None
        else {
            "seq": cp.seq,
            "hash": cp.hash,
            "time": _iso(cp.time),
            "key_id": cp.key_id,
            "signature": cp.signature,
            "covers_export": bool(records) and cp.seq >= records[-1].seq,
        },
    }


def default_name(since: datetime, until: datetime) -> str:
    return f"recognition-log-{since:%Y%m%dT%H%M%S}-{until:%Y%m%dT%H%M%S}.json"


def export_recognition_log(
    db: Database,
    audit: AuditLog,
    *,
    data_dir: Path,
    out: Path,
    since: datetime,
    until: datetime,
    actor: str,
    reason: str,
    camera: str | None = None,
    role: str = "",
    source: str = "cli",
) -> tuple[Path, Path]:
    """Write the signed recognition log of [since, until) to `out` (a folder or a .json file);
    returns (document, manifest). The export is audited first (it needs a reason), and the
    head is checkpointed, so the document names a signed checkpoint covering its records."""
    if until <= since:
        raise InputError("--until must be after --since")
    path = out / default_name(since, until) if out.is_dir() or not out.suffix else out
    audit.record(
        db,
        actor=actor,
        role=role,
        action=Action.export,
        reason=reason,
        source=source,
        camera=camera,
        target=(KIND, path.name),
        details={"since": _iso(since), "until": _iso(until), "camera": camera},
    )
    audit.checkpoint(db)
    with db.session() as s:
        report = recognition_report(
            s, camera=camera, since=since, until=until, data_dir=data_dir, limit=1_000_000
        )
        chain = chain_range(s, report.records)
    doc = {
        "format": FORMAT,
        "site_key_id": audit.key.key_id,
        "created_at": _iso(datetime.now(UTC)),
        "created_by": actor,
        "reason": reason,
        **report.as_dict(),
        "chain": chain,
        "audit_records": [_record_doc(r) for r in report.records],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())
    manifest = write_manifest(
        data_dir,
        [path],
        kind=KIND,
        actor=actor,
        reason=reason,
        camera=camera,
        start=since,
        end=until,
        details={
            "periods": len(report.periods),
            "matches": len(report.matches),
            "chain_first_seq": chain["first_seq"],
            "chain_last_seq": chain["last_seq"],
        },
    )
    return path, manifest
