"""What every command shares: the configuration and the database, opened on first use."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

# Every command imports this module, and `vigil --help` must stay fast: what needs OpenCV,
# the face models or SQLAlchemy is imported where it is first used.
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vigil.config import VigilConfig
    from vigil.faces.calibration import Calibration
    from vigil.faces.engine import FaceEngine
    from vigil.faces.gallery import AuditHook, Gallery
    from vigil.privacy.audit import Action, AuditLog
    from vigil.store.db import Database

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # warnings and errors: never mixed into --json


@dataclass
class AppState:
    config_path: Path | None = None
    data_dir_override: Path | None = None
    _db: Database | None = field(default=None, repr=False)

    @cached_property
    def config(self) -> VigilConfig:
        from vigil.config import load_config

        cfg = load_config(self.config_path)
        if self.data_dir_override is not None:
            cfg.storage.data_dir = self.data_dir_override
        return cfg

    @property
    def data_dir(self) -> Path:
        return self.config.storage.data_dir

    def db(self) -> Database:
        if self._db is None:
            from vigil.store.db import Database

            self._db = Database(self.config.storage.resolved_database_url())
        return self._db

    @cached_property
    def face_engine(self) -> FaceEngine:
        from vigil.faces.engine import FaceEngine

        return FaceEngine(self.config.faces)

    def gallery(self) -> Gallery:
        from vigil.faces.gallery import Gallery

        return Gallery(self.db(), self.face_engine.model_name, self.calibration())

    @cached_property
    def audit_log(self) -> AuditLog:
        from vigil.privacy.audit import AuditLog

        return AuditLog.from_config(self.config)

    def audit(self, action: Action, **fields: Any) -> None:
        """Record an action of the person running this command in the audit chain."""
        self.audit_log.record(
            self.db(), actor=current_user(), action=action, source="cli", **fields
        )

    def audit_hook(self, action: Action, **fields: Any) -> AuditHook:
        """An audit record written inside a gallery change's own transaction."""

        details = fields.pop("details", {})

        def hook(session: Session, person_id: int, templates: int) -> None:
            self.audit_log.record(
                session,
                actor=current_user(),
                action=action,
                source="cli",
                person=person_id,
                details={**details, "templates": templates},
                **fields,
            )

        return hook

    def calibration(self) -> Calibration:
        from vigil.faces.calibration import load_calibration

        return load_calibration(
            self.data_dir, self.face_engine.model_name, self.config.faces.match_threshold
        )


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppState)
    return obj


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def current_user() -> str:
    """Who runs this command, for audit records and `enrolled_by`."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def progress_bar() -> Progress:
    """The rich progress bar every long CLI job uses (to stderr, so --json stays clean)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
