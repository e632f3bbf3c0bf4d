"""Sending the queued pushes (`hub_pushes`) to their sites: `HubPusher` runs in `HubNode` (and
once in `vigil hub push`); `pending_pushes` is what still waits (`vigil hub pending`). A push
is marked done only when the site answers that it applied it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from vigil.store.db import Database
from vigil.store.models.hub import (
    HubPush,
)
from vigil.sync import wire


@dataclass(frozen=True)
class PendingPush:
    site: str
    verb: str
    uid: str
    attempts: int
    last_error: str
    created_at: datetime


def pending_pushes(db: Database) -> list[PendingPush]:
    with db.session() as s:
        return [
            PendingPush(p.site, p.verb, p.uid, p.attempts, p.last_error, p.created_at)
            for p in s.scalars(
                select(HubPush).where(HubPush.done_at.is_(None)).order_by(HubPush.id)
            )
        ]


Connector = Callable[[str], Awaitable[Any]]  # site -> connected nats.NATS in its account


@dataclass
class PushRound:
    sent: int = 0
    refused: int = 0  # the site answered with an error (retried with back-off)
    unreachable: list[str] = field(default_factory=list)


class HubPusher:
    """Sends queued pushes to their sites in order, one site at a time per connection.

    A site that does not answer (link down, no responder) keeps its pushes for the next round;
    one that refuses a push (e.g. a site-local person has the same name) gets it again after a
    back-off, and the refusal is kept in `last_error` (`vigil hub pending`)."""

    def __init__(
        self,
        db: Database,
        connect: Connector,
        *,
        timeout_s: float = 5.0,
        interval_s: float = 1.0,
        max_backoff_s: float = 300.0,
    ) -> None:
        self.db = db
        self.connect = connect
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self._conns: dict[str, Any] = {}
        self._stop = asyncio.Event()

    def _due(self) -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
        now = datetime.now(UTC)
        out: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        with self.db.session() as s:
            for p in s.scalars(
                select(HubPush)
                .where(HubPush.done_at.is_(None), HubPush.next_attempt_at <= now)
                .order_by(HubPush.id)
            ):
                out.setdefault(p.site, []).append((p.id, p.verb, p.body))
        return out

    def _settle(self, push_id: int, error: str | None, count_attempt: bool = True) -> None:
        with self.db.session() as s:
            p = s.get(HubPush, push_id)
            if p is None or p.done_at is not None:
                return  # replaced by a newer push meanwhile
            if count_attempt:
                p.attempts += 1
            if error is None:
                p.done_at, p.last_error = datetime.now(UTC), ""
            else:
                p.last_error = error[:2000]
                if count_attempt:
                    wait = min(self.max_backoff_s, 2.0 ** min(p.attempts, 16))
                    p.next_attempt_at = datetime.now(UTC) + timedelta(seconds=wait)

    async def _conn(self, site: str) -> Any:
        nc = self._conns.get(site)
        if nc is None or nc.is_closed:
            nc = await self.connect(site)
            self._conns[site] = nc
        return nc

    async def push_once(self) -> PushRound:
        out = PushRound()
        for site, items in (await asyncio.to_thread(self._due)).items():
            try:
                nc = await self._conn(site)
            except Exception as exc:
                await self._unreachable(out, site, [i[0] for i in items], exc)
                continue
            for k, (push_id, verb, body) in enumerate(items):
                try:
                    msg = await nc.request(
                        wire.command_subject(site, verb),
                        json.dumps(body).encode(),
                        timeout=self.timeout_s,
                    )
                    reply = wire.Reply.read(msg.data)
                except Exception as exc:  # no responders, timeout, link down: next round
                    await self._unreachable(out, site, [i[0] for i in items[k:]], exc)
                    break
                if reply.ok:
                    await asyncio.to_thread(self._settle, push_id, None)
                    out.sent += 1
                else:
                    await asyncio.to_thread(self._settle, push_id, reply.error or "refused")
                    out.refused += 1
        return out

    async def _unreachable(
        self, out: PushRound, site: str, push_ids: list[int], exc: Exception
    ) -> None:
        out.unreachable.append(site)
        for push_id in push_ids:
            await asyncio.to_thread(
                self._settle, push_id, f"site unreachable: {type(exc).__name__}", False
            )

    async def run(self) -> None:
        try:
            while not self._stop.is_set():
                await self.push_once()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.interval_s)
        finally:
            await self.close()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        for nc in self._conns.values():
            with contextlib.suppress(Exception):
                await nc.close()
        self._conns.clear()
