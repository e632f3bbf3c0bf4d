"""The hub as a witness of each site's audit chain (decision 0065).

A site sends every signed checkpoint (its *head*, `wire.AuditHead`) beside its audit records.
`store_heads` keeps them in arrival order (`hub_audit_heads`) and checks each signature with
the site's key, pinned the first time a head carried it (`hub_site_keys`; trust on first use,
or `pin` from a PEM the operator got from the site). A head with another key is kept with its
problem and checks out once that key is pinned.

`verify_site` compares three things and names every record the hub saw that the site lost:
- the heads among themselves: a head with a lower seq after a higher one, or another hash at a
  seq already witnessed, means the chain was cut or rewritten;
- the heads with the audit records the hub holds (same hash at the same seq, records linked);
- the heads and records with the site's chain as it is now (`audit.head`, asked over the
  site's command channel by `ask_site`): records the hub saw past the site's newest, or whose
  hash the site no longer has. Records up to the site's retention anchor went legitimately.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.errors import InputError
from vigil.privacy.audit import checkpoint_message
from vigil.privacy.keys import VerifyKey
from vigil.store.db import Database
from vigil.store.models.hub import HubAuditHead, HubAuditRecord, HubSiteKey
from vigil.sync import wire

ASK_NEWEST = 1000  # heads whose hash the site is asked for: a match at the newest covers older


def _pinned(s: Session, site: str) -> dict[str, VerifyKey]:
    rows = s.scalars(select(HubSiteKey).where(HubSiteKey.site == site))
    return {k.key_id: VerifyKey.from_pem(k.public_key.encode(), "pinned key") for k in rows}


def _signature_problem(
    keys: dict[str, VerifyKey],
    site: str,
    key_id: str,
    signature: str,
    seq: int,
    hash_: str,
    time: datetime,
) -> str:
    key = keys.get(key_id)
    if key is None:
        pinned = ", ".join(sorted(keys)) or "none"
        return (
            f"signed by key {key_id}, not a key pinned for {site} ({pinned}); if the site "
            f"rotated its key, pin the new one: vigil hub audit pin {site} KEY.pem"
        )
    try:
        sig = bytes.fromhex(signature)
    except ValueError:
        sig = b""
    if not key.verify(sig, checkpoint_message(seq, hash_, time)):
        return "bad signature (forged or altered)"
    return ""


def _pin_first(s: Session, site: str, head: wire.AuditHead) -> str:
    """Pin the key a site's first head carries; "" or why not."""
    if not head.public_key:
        return "carries no public key and none is pinned for this site"
    try:
        key = VerifyKey.from_pem(head.public_key.encode(), "the head's public key")
    except InputError as exc:
        return str(exc)
    if key.key_id != head.key_id:
        return f"names key {head.key_id} but carries key {key.key_id}"
    s.add(HubSiteKey(site=site, key_id=key.key_id, public_key=head.public_key))
    s.flush()
    return ""


def store_heads(s: Session, site: str, heads: list[wire.AuditHead]) -> int:
    """Keep the heads not kept yet, each checked; returns how many were new."""
    new = 0
    for h in heads:
        if h.site and h.site != site:
            continue
        known = s.scalar(
            select(HubAuditHead.id).where(
                HubAuditHead.site == site, HubAuditHead.seq == h.seq, HubAuditHead.hash == h.hash
            )
        )
        if known is not None:
            continue
        keys = _pinned(s, site)
        problem = "" if keys else _pin_first(s, site, h)
        if not problem:
            keys = keys or _pinned(s, site)
            problem = _signature_problem(keys, site, h.key_id, h.signature, h.seq, h.hash, h.time)
        s.add(
            HubAuditHead(
                site=site,
                seq=h.seq,
                hash=h.hash,
                time=h.time,
                signature=h.signature,
                key_id=h.key_id,
                received_at=datetime.now(UTC),
                problem=problem,
            )
        )
        s.flush()
        new += 1
    return new


def pin(db: Database, site: str, pem: bytes) -> str:
    """Trust `pem` for `site`'s heads from now on (after a key rotation); returns its id."""
    key = VerifyKey.from_pem(pem, "the public key")
    with db.session() as s:
        if s.get(HubSiteKey, (site, key.key_id)) is None:
            s.add(HubSiteKey(site=site, key_id=key.key_id, public_key=pem.decode()))
    return key.key_id


@dataclass(frozen=True)
class Loss:
    """Records `first`..`last` the hub saw (or a witnessed head covered) that the site lost."""

    first: int
    last: int
    why: str

    def seqs(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    def as_dict(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "why": self.why}


@dataclass
class HubAuditReport:
    site: str
    heads: int = 0
    newest_seq: int | None = None  # the newest validly signed head
    newest_time: datetime | None = None
    records_held: int = 0
    records_max: int | None = None
    asked: bool = False  # the site answered `audit.head`
    site_last_seq: int | None = None
    site_anchor_seq: int | None = None
    losses: list[Loss] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.losses and not self.problems

    def lost_seqs(self) -> str:
        return ", ".join(x.seqs() for x in sorted(self.losses, key=lambda x: x.first))

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "ok": self.ok,
            "heads": self.heads,
            "newest_seq": self.newest_seq,
            "newest_time": self.newest_time.isoformat() if self.newest_time else None,
            "records_held": self.records_held,
            "records_max": self.records_max,
            "asked": self.asked,
            "site_last_seq": self.site_last_seq,
            "site_anchor_seq": self.site_anchor_seq,
            "losses": [x.as_dict() for x in self.losses],
            "problems": self.problems,
        }


def seqs_to_ask(db: Database, site: str) -> list[int]:
    """The seqs whose hash the site is asked for: its newest witnessed heads."""
    with db.session() as s:
        return list(
            s.scalars(
                select(HubAuditHead.seq)
                .where(HubAuditHead.site == site, HubAuditHead.problem == "")
                .order_by(HubAuditHead.seq.desc())
                .limit(ASK_NEWEST)
            )
        )


async def ask_site(
    nc: Any, site: str, seqs: list[int], timeout: float = 5.0
) -> wire.AuditHeadReply | wire.Reply:
    """The site's chain now, over its command channel (`nc`: a connection into the site's
    account, `connect_site`). Raises nats' errors or TimeoutError when the site is away."""
    msg = await nc.request(
        wire.command_subject(site, "audit.head"),
        wire.AuditHeadAsk(seqs=seqs).encode(),
        timeout=timeout,
    )
    body = wire.json_object(msg.data)
    return wire.AuditHeadReply.read(body) if body.get("ok") else wire.Reply.read(body)


async def ask_and_verify(
    db: Database, site: str, connect: Callable[[str], Awaitable[Any]] | None, timeout: float
) -> tuple[HubAuditReport, str]:
    """`verify_site` with the site asked first when it can be; (report, why it was not)."""
    answer: wire.AuditHeadReply | wire.Reply | None = None
    unreachable = "" if connect is not None else "the hub runs without its nats-server"
    if connect is not None:
        try:
            nc = await asyncio.wait_for(connect(site), timeout)
            try:
                seqs = await asyncio.to_thread(seqs_to_ask, db, site)
                answer = await ask_site(nc, site, seqs, timeout)
            finally:
                await asyncio.wait_for(nc.close(), timeout)
        except Exception as exc:  # site or hub away: what the hub holds still counts
            unreachable = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return await asyncio.to_thread(verify_site, db, site, answer), unreachable


def verify_site(
    db: Database, site: str, answer: wire.AuditHeadReply | wire.Reply | None = None
) -> HubAuditReport:
    """What the hub saw of `site`'s chain against itself and, given `answer`, the site's."""
    out = HubAuditReport(site)
    witnessed: dict[int, HubAuditHead] = {}  # seq -> the first valid head at it
    with db.session() as s:
        heads = list(
            s.scalars(
                select(HubAuditHead).where(HubAuditHead.site == site).order_by(HubAuditHead.id)
            )
        )
        keys = _pinned(s, site)
        held = s.execute(
            select(func.count(), func.max(HubAuditRecord.seq)).where(HubAuditRecord.site == site)
        ).one()
        out.records_held, out.records_max = int(held[0] or 0), held[1]
        newest_seqs = {h.seq for h in heads[-ASK_NEWEST:]}
        at_heads = {
            seq: hash_
            for seq, hash_ in s.execute(
                select(HubAuditRecord.seq, HubAuditRecord.hash).where(
                    HubAuditRecord.site == site, HubAuditRecord.seq.in_(newest_seqs)
                )
            )
        }
        _check_links(s, site, out)
    out.heads = len(heads)
    high: HubAuditHead | None = None  # the highest seq witnessed so far, in arrival order
    for h in heads:
        problem = h.problem  # checked again: a key may have been pinned since
        if problem and keys:
            problem = _signature_problem(keys, site, h.key_id, h.signature, h.seq, h.hash, h.time)
        if problem:
            out.problems.append(f"head at record {h.seq} (received {_t(h.received_at)}) {problem}")
            continue
        first = witnessed.setdefault(h.seq, h)
        if first.hash != h.hash:
            out.losses.append(
                Loss(
                    h.seq,
                    h.seq,
                    f"the site signed record {h.seq} again with another hash "
                    f"({_t(h.received_at)}; first witnessed {_t(first.received_at)}): "
                    "its chain was rewritten up to it",
                )
            )
        if high is not None and h.seq < high.seq:
            out.losses.append(
                Loss(
                    h.seq + 1,
                    high.seq,
                    f"the site's head went back from record {high.seq} to {h.seq} "
                    f"(received {_t(h.received_at)})",
                )
            )
        if high is None or h.seq >= high.seq:
            high = h
        held_hash = at_heads.get(h.seq)
        if held_hash is not None and held_hash != h.hash:
            out.problems.append(
                f"the hub's copy of record {h.seq} differs from the site's signed head at it"
            )
    if witnessed:
        top = witnessed[max(witnessed)]
        out.newest_seq, out.newest_time = top.seq, top.time
    if answer is not None:
        _compare_with_site(out, answer, witnessed)
    return out


def _check_links(s: Session, site: str, out: HubAuditReport) -> None:
    """Consecutive records the hub holds must link (`prev_hash`): a break is a regrown chain."""
    prev: tuple[int, str] | None = None
    rows = s.execute(
        select(HubAuditRecord.seq, HubAuditRecord.hash, HubAuditRecord.record)
        .where(HubAuditRecord.site == site)
        .order_by(HubAuditRecord.seq)
    ).yield_per(2000)
    for seq, hash_, record in rows:
        link = (record or {}).get("prev_hash")
        if prev is not None and prev[0] == seq - 1 and link and link != prev[1]:
            out.problems.append(
                f"record {seq} the hub received does not follow record {seq - 1} it received "
                "before: the site's chain was cut and grew again"
            )
        prev = (seq, hash_)


def _compare_with_site(
    out: HubAuditReport,
    answer: wire.AuditHeadReply | wire.Reply,
    witnessed: dict[int, HubAuditHead],
) -> None:
    if not isinstance(answer, wire.AuditHeadReply):
        out.problems.append(f"the site refused audit.head: {answer.error}")
        return
    out.asked = True
    out.site_last_seq, out.site_anchor_seq = answer.last_seq, answer.anchor_seq
    last, floor = answer.last_seq or 0, answer.anchor_seq or 0
    seen_max = max([out.records_max or 0, *witnessed])
    if seen_max > last:
        out.losses.append(
            Loss(
                max(last + 1, floor + 1),
                seen_max,
                f"the site's chain ends at record {last}; the hub saw records up to {seen_max}",
            )
        )
    for seq, got in sorted(answer.hashes.items()):
        h = witnessed.get(seq)
        if h is None or seq <= floor or seq > last:
            continue
        if got is None:
            out.losses.append(Loss(seq, seq, f"record {seq} is gone at the site"))
        elif got != h.hash:
            out.losses.append(
                Loss(seq, seq, f"the site's record {seq} differs from the head it signed")
            )


def _t(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
