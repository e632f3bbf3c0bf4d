"""What every command shares: the configuration and the database, opened on first use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from vigil.config import VigilConfig, load_config
from vigil.store.db import Database

console = Console()


@dataclass
class AppState:
    config_path: Path | None = None
    data_dir_override: Path | None = None
    _db: Database | None = field(default=None, repr=False)

    @cached_property
    def config(self) -> VigilConfig:
        cfg = load_config(self.config_path)
        if self.data_dir_override is not None:
            cfg.storage.data_dir = self.data_dir_override
        return cfg

    @property
    def data_dir(self) -> Path:
        return self.config.storage.data_dir

    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.config.storage.resolved_database_url())
        return self._db


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppState)
    return obj


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
