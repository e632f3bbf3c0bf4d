"""Audit records for what users do through the API, written to `vigil.privacy.audit`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from vigil.config import VigilConfig
from vigil.privacy.audit import Action, AuditLog
from vigil.store.db import Database


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    role: str
    action: Action
    reason: str = ""
    target_kind: str = ""
    target_id: str = ""
    camera: str | None = None
    person: int | None = None  # the person's id (a name would outlive their deletion)
    source: str = ""  # client address
    details: dict[str, Any] = field(default_factory=dict)


class AuditSink(Protocol):
    def __call__(self, entry: AuditEntry) -> None: ...


class MemoryAudit:
    """Keeps entries in a list (for tests that want to look at them directly)."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self._lock = threading.Lock()

    def __call__(self, entry: AuditEntry) -> None:
        with self._lock:
            self.entries.append(entry)


class ChainAudit:
    """Appends each entry to the site's tamper-evident audit chain."""

    def __init__(self, config: VigilConfig, db: Database) -> None:
        self.log = AuditLog.from_config(config)
        self.db = db

    def __call__(self, entry: AuditEntry) -> None:
        self.record_in(self.db, entry)

    def record_in(self, where: Database | Session, entry: AuditEntry) -> None:
        """Append `entry`; given a `Session`, inside that transaction (committed with it)."""
        self.log.record(
            where,
            actor=entry.actor,
            role=entry.role,
            action=entry.action,
            reason=entry.reason,
            target=(entry.target_kind, entry.target_id) if entry.target_kind else None,
            camera=entry.camera,
            person=entry.person,
            source=f"api {entry.source}",
            details=entry.details,
        )
