"""Witnesses of the audit head: signed checkpoints copied off this machine, so that cutting the
chain's tail after one of them shows (decision 0065).

Without a witness, deleting every record after the newest checkpoint leaves a chain that
verifies. So while records are written, `AuditWitness.tick` (a job of the node's scheduler)
signs a checkpoint, the *head*, whenever records follow the newest checkpoint and
`privacy.audit_head_interval_s` has passed since it; `final()` signs one at shutdown. The
newest checkpoint then goes to every witness configured that has not had it:

- `file`: `privacy.audit_witness_file`, one JSON object a line (`Head.as_dict`), appended and
  fsync'd. Meant for another disk or another machine's mount: `check` reads it back.
- `syslog`: `privacy.audit_witness_syslog`, `host:port` (UDP) or a unix socket path, one
  message `vigil-audit-head {json}` a head, through the standard `SysLogHandler`.
- `hub`: the site's publisher sends every checkpoint to the hub (`vigil.sync.edge`), which
  keeps and checks them (`vigil hub audit verify SITE`); `note` records those the hub acked.

Each hand-over is noted in `audit_witnessed` (which witness, which head, when). `check` adds
to a `VerifyReport` how far back the chain is witnessed, and a problem for every witnessed head
the chain no longer reaches (`witness_cut`: records deleted after it) or differs at
(`witness_differs`: rewritten), and for a witness file line that is not validly signed
(`witness_signature`). A note in this database is not proof (whoever cuts the chain can cut
the notes too); the witness file and the hub's copies are.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vigil.config import VigilConfig
from vigil.errors import ConfigError
from vigil.privacy import keys
from vigil.privacy.audit import AuditLog, Problem, VerifyReport, head_problem
from vigil.store.base import utcnow
from vigil.store.db import Database
from vigil.store.models.audit import (
    AuditAnchor,
    AuditCheckpoint,
    AuditRecord,
    AuditWitnessed,
)

log = logging.getLogger(__name__)

HEAD_KIND = "vigil-audit-head"
HUB = "hub"  # the hub's name in `audit_witnessed`


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Head:
    """A signed checkpoint as a witness keeps it: enough to check its signature anywhere."""

    seq: int
    hash: str
    time: datetime
    signature: str
    key_id: str
    site: str = ""

    @classmethod
    def of(cls, cp: AuditCheckpoint, site: str = "") -> Head:
        return cls(cp.seq, cp.hash, cp.time, cp.signature, cp.key_id, site)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": HEAD_KIND,
            "schema": 1,
            "site": self.site,
            "seq": self.seq,
            "hash": self.hash,
            "time": _iso(self.time),
            "signature": self.signature,
            "key_id": self.key_id,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Head:
        """Raises ValueError (KeyError, TypeError) for what is not a head."""
        if d.get("kind") != HEAD_KIND:
            raise ValueError("not an audit head")
        t = datetime.fromisoformat(str(d["time"]))
        return cls(
            int(d["seq"]),
            str(d["hash"]),
            t if t.tzinfo else t.replace(tzinfo=UTC),
            str(d["signature"]),
            str(d["key_id"]),
            str(d.get("site", "")),
        )


class Witness(Protocol):
    name: str  # how `audit_witnessed` and reports name it

    def send(self, head: Head) -> None:
        """Hand the head over; raise OSError when it did not get there."""


class FileWitness:
    """Appends heads to a JSON-lines file, each line fsync'd before `send` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path}"

    def send(self, head: Head) -> None:
        line = json.dumps(head.as_dict(), sort_keys=True) + "\n"
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:  # the file's name survives a power cut too
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def read(self) -> tuple[list[Head], int]:
        """The heads in the file, in the order written, and how many lines were not heads (a
        line torn by a crash, or written by someone else). OSError when unreadable."""
        heads: list[Head] = []
        bad = 0
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    heads.append(Head.from_dict(json.loads(line)))
                except (ValueError, KeyError, TypeError, AttributeError):
                    bad += 1
        return heads, bad


class _Handler(logging.handlers.SysLogHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exception()  # inside emit()'s except: say it failed instead of printing
        if exc is not None:
            raise exc


def syslog_address(spec: str) -> str | tuple[str, int]:
    """`host:port` (UDP), or a unix socket path (starts with `/`)."""
    if spec.startswith("/"):
        return spec
    host, sep, port = spec.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"privacy.audit_witness_syslog must be host:port or a socket path, got {spec!r}"
        )
    return host.strip("[]"), int(port)


class SyslogWitness:
    """Sends each head as one syslog message (facility auth, priority info)."""

    def __init__(self, spec: str) -> None:
        self.address = syslog_address(spec)
        self.name = f"syslog:{spec}"
        self._handler: _Handler | None = None

    def send(self, head: Head) -> None:
        if self._handler is None:  # a unix socket is connected here: OSError when absent
            self._handler = _Handler(self.address, facility=_Handler.LOG_AUTH)
        msg = f"{HEAD_KIND} {json.dumps(head.as_dict(), sort_keys=True)}"
        record = logging.LogRecord("vigil.audit", logging.INFO, __file__, 0, msg, None, None)
        try:
            self._handler.emit(record)
        except Exception:
            self.close()  # connect again next time
            raise

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()
            self._handler = None


def witnesses_of(config: VigilConfig) -> list[Witness]:
    """The file and syslog witnesses `privacy` names (the hub's is the sync publisher)."""
    p = config.privacy
    found: list[Witness] = []
    if p.audit_witness_file is not None:
        found.append(FileWitness(p.audit_witness_file))
    if p.audit_witness_syslog:
        found.append(SyslogWitness(p.audit_witness_syslog))
    return found


def note(db: Database, witness: str, heads: Iterable[Head]) -> None:
    """Record that `witness` has these heads (again is fine)."""
    now = utcnow()
    for h in heads:
        with db.session() as s:
            if s.scalar(
                select(AuditWitnessed.id).where(
                    AuditWitnessed.witness == witness, AuditWitnessed.seq == h.seq
                )
            ):
                continue
            s.add(
                AuditWitnessed(
                    witness=witness,
                    seq=h.seq,
                    hash=h.hash,
                    checkpoint_time=h.time,
                    witnessed_at=now,
                )
            )
            try:
                s.flush()
            except IntegrityError:  # noted by another process meanwhile
                s.rollback()


class AuditWitness:
    """Signs the head on time and hands it to the witnesses; `tick()` every `tick_s`."""

    def __init__(
        self,
        audit: AuditLog,
        db: Database,
        witnesses: list[Witness],
        *,
        interval_s: float = 60.0,
        site: str = "",
    ) -> None:
        self.audit, self.db, self.witnesses = audit, db, witnesses
        self.interval = timedelta(seconds=interval_s)
        self.site = site

    @classmethod
    def from_config(cls, config: VigilConfig, db: Database) -> AuditWitness:
        return cls(
            AuditLog.from_config(config),
            db,
            witnesses_of(config),
            interval_s=config.privacy.audit_head_interval_s,
            site=config.sync.site_id if config.sync.enabled else config.site.name,
        )

    @property
    def tick_s(self) -> float:
        """How often `tick` runs: a quarter of the interval, so checkpoints are never more than
        the interval apart while records are written."""
        return self.interval.total_seconds() / 4

    def tick(self) -> Head | None:
        """Sign a head when due; hand the newest to the witnesses. Returns the head signed."""
        return self._sign(self.interval - timedelta(seconds=self.tick_s))

    def final(self) -> Head | None:
        """At shutdown: sign whatever follows the newest checkpoint, hand it over."""
        return self._sign(timedelta(0))

    def _sign(self, min_age: timedelta) -> Head | None:
        signed: Head | None = None
        with self.db.session() as s:
            last = s.scalar(select(func.max(AuditRecord.seq)))
            newest = s.execute(
                select(AuditCheckpoint.seq, AuditCheckpoint.time)
                .order_by(AuditCheckpoint.seq.desc())
                .limit(1)
            ).first()
        unsigned = last is not None and (newest is None or last > newest.seq)
        if unsigned and (newest is None or utcnow() - newest.time >= min_age):
            cp = self.audit.checkpoint(self.db)
            signed = Head.of(cp, self.site) if cp is not None else None
        self.hand_over()
        return signed

    def hand_over(self) -> None:
        """The newest checkpoint to each witness that has not had it (retried next time)."""
        with self.db.session() as s:
            cp = s.scalars(
                select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
            ).first()
            if cp is None:
                return
            head = Head.of(cp, self.site)
            have = set(
                s.scalars(select(AuditWitnessed.witness).where(AuditWitnessed.seq == head.seq))
            )
        for w in self.witnesses:
            if w.name in have:
                continue
            try:
                w.send(head)
            except OSError as exc:
                log.warning("audit witness %s: head %d not sent: %s", w.name, head.seq, exc)
                continue
            note(self.db, w.name, [head])


@dataclass
class _Seen:
    head: Head
    witnesses: list[str] = field(default_factory=list)
    noted_at: datetime | None = None


def check(
    report: VerifyReport,
    db: Database,
    config: VigilConfig,
    ring: Mapping[str, keys.KeyEntry],
) -> VerifyReport:
    """Add to `report` (of `AuditLog.verify`) how far back the chain is witnessed, and a
    problem for each witnessed head the chain does not reach or differs at."""
    heads: dict[tuple[int, str], _Seen] = {}
    notes: list[str] = []

    def seen(h: Head, witness: str, at: datetime | None = None) -> None:
        entry = heads.setdefault((h.seq, h.hash), _Seen(h))
        if witness not in entry.witnesses:
            entry.witnesses.append(witness)
        if at is not None and (entry.noted_at is None or at < entry.noted_at):
            entry.noted_at = at

    wfile = config.privacy.audit_witness_file
    if wfile is not None:
        fw = FileWitness(wfile)
        try:
            in_file, bad = fw.read()
        except OSError as exc:
            notes.append(f"cannot read the witness file {wfile}: {exc.strerror or exc}")
            in_file, bad = [], 0
        if bad:
            notes.append(f"{bad} line(s) of the witness file are not heads")
        for h in in_file:
            wrong = head_problem(ring, h.key_id, h.signature, h.seq, h.hash, h.time)
            if wrong is not None:
                report.problems.append(
                    Problem(
                        "witness_signature",
                        h.seq,
                        f"the head at record {h.seq} in the witness file {wrong}",
                    )
                )
                continue
            seen(h, fw.name)
    with db.session() as s:
        for w in s.scalars(select(AuditWitnessed).order_by(AuditWitnessed.id)):
            seen(Head(w.seq, w.hash, w.checkpoint_time, "", ""), w.witness, w.witnessed_at)
        anchor = s.execute(
            select(AuditAnchor.seq, AuditAnchor.hash).order_by(AuditAnchor.seq.desc()).limit(1)
        ).first()
        wanted = {seq for seq, _ in heads}
        chain: dict[int, str] = {}  # the chain's hash at each witnessed seq (one pass, as verify)
        if wanted:
            rows = s.execute(
                select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.seq >= min(wanted))
            ).yield_per(5000)
            chain = {seq: hash_ for seq, hash_ in rows if seq in wanted}
    last = report.last_seq or 0
    newest: _Seen | None = None
    for (seq, hash_), entry in sorted(heads.items()):
        by = ", ".join(entry.witnesses)
        when = _iso(entry.head.time)[:19]
        if anchor is not None and seq <= anchor.seq:
            if seq == anchor.seq and hash_ != anchor.hash:
                report.problems.append(
                    Problem(
                        "witness_differs",
                        seq,
                        f"the retention anchor at record {seq} differs from the head "
                        f"witnessed by {by} (signed {when} UTC)",
                    )
                )
            continue  # removed by audit retention behind a signed anchor
        if seq > last:
            gone = f"record {seq}" if seq == last + 1 else f"records {last + 1} to {seq}"
            report.problems.append(
                Problem(
                    "witness_cut",
                    last + 1,
                    f"the chain ends at record {last}, but record {seq} was witnessed by {by} "
                    f"(signed {when} UTC): {gone} were deleted",
                )
            )
        elif chain.get(seq) != hash_:
            report.problems.append(
                Problem(
                    "witness_differs",
                    seq,
                    f"record {seq} differs from the head witnessed by {by} (signed {when} "
                    f"UTC): the chain was rewritten at or before record {seq}",
                )
            )
        elif newest is None or seq >= newest.head.seq:
            newest = entry
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    configured = [w.name for w in witnesses_of(config)]
    if config.sync.enabled:
        configured.append(HUB)
    report.witness = {
        "witnesses": configured,
        "seq": newest.head.seq if newest else None,
        "time": _iso(newest.head.time) if newest else None,
        "by": newest.witnesses if newest else [],
        "unwitnessed": last - newest.head.seq if newest else last,
        "heads": len(heads),
        "notes": notes,
    }
    return report


def verify(
    config: VigilConfig, db: Database, key: keys.VerifyKey | list[keys.VerifyKey] | None = None
) -> VerifyReport:
    """`AuditLog.verify` and `check`: the chain, its checkpoints and its witnesses."""
    audit = AuditLog.from_config(config)
    ring = audit.ring(key)
    return check(audit.verify(db, key=key), db, config, ring)


@dataclass(frozen=True)
class ChainState:
    """The chain as it is now: its newest record, its anchor, its hashes at asked seqs."""

    last_seq: int | None
    last_hash: str | None
    anchor_seq: int | None
    hashes: dict[int, str | None]


def chain_state(db: Database, seqs: Iterable[int]) -> ChainState:
    """What a witness asks a site (the hub, `audit.head`): None for a seq that is gone."""
    wanted = sorted(set(seqs))
    with db.session() as s:
        head = s.execute(
            select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
        ).first()
        anchor = s.scalar(select(func.max(AuditAnchor.seq)))
        found: dict[int, str] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            found.update(
                (seq, hash_)
                for seq, hash_ in s.execute(
                    select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.seq.in_(chunk))
                )
            )
    return ChainState(
        head.seq if head else None,
        head.hash if head else None,
        anchor,
        {q: found.get(q) for q in wanted},
    )
