"""What the hub's routes and pages reach beyond a site's `ApiContext`: `HubContext` (the hub's
folder, its sites, how to reach one, the nats-server's monitor), and the `ApiContext` the hub
runs its accounts and audit with (`create_hub_context`: the hub folder as data folder).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request

from vigil.api.context import ApiContext
from vigil.faces.engine import FaceEngine
from vigil.hub.config import HubConfig
from vigil.store.db import Database
from vigil.sync.server import site_account

SiteConnector = Callable[[str], Awaitable[Any]]  # site -> a connected nats.NATS (connect_site)


@dataclass
class HubContext:
    """What the hub's routes need beyond the accounts and audit of `ApiContext`.

    - `sites`: the sites this hub admits (its `--site` logins), in display order.
    - `connect`: opens a NATS connection into one site's account (`connect_site`), or None
      when the hub runs without its nats-server (views only: no link state, no clips).
    - `monitor`: the hub nats-server's monitoring URL (`/leafz` tells which sites are linked).
    """

    hub_dir: Path
    sites: list[str]
    connect: SiteConnector | None = None
    monitor: str | None = None
    request_timeout_s: float = 120.0

    @property
    def thumbs_dir(self) -> Path:
        return self.hub_dir / "thumbs"

    @property
    def clips_dir(self) -> Path:
        return self.hub_dir / "clips"

    def linked_sites(self) -> set[str] | None:
        """Sites whose leaf link is up now; None when that cannot be known."""
        if self.monitor is None:
            return None
        try:
            with urllib.request.urlopen(f"{self.monitor}/leafz", timeout=2) as r:
                leafs = json.load(r).get("leafs") or []
        except OSError:
            return None
        accounts = {leaf.get("account") for leaf in leafs}
        return {s for s in self.sites if site_account(s) in accounts}


def create_hub_context(
    config: HubConfig,
    db: Database,
    *,
    engine: FaceEngine | Callable[[], FaceEngine] | None = None,
) -> ApiContext:
    """The `ApiContext` of the hub's shared routes: `HubConfig.api_config` (the hub folder as
    data folder: keys, set-up code, audit chain)."""
    return ApiContext(config.api_config(), db, engine=engine)


def get_hub(request: Request) -> HubContext:
    return request.app.state.hub
