"""The hub node: everything `vigil hub` runs, started and stopped together, from a `HubConfig`.

`start()` opens the hub database (SQLite in the hub folder, a given URL, or the embedded
PostgreSQL), starts the hub's nats-server with one leaf login per site (passwords read from
their files or environment variables, never from a command line), and builds the consumer that
pulls every site's streams (`ingest`), the pusher that sends the gallery's queued pushes
(`pusher`), the retention policy and, with `web: true`, the web UI and API. `run()` runs them
in one asyncio loop until `stop()`, and the node's maintenance scheduler (`vigil.maintenance`)
beside it: a retention pass on start and hourly. `close()` stops the nats-server and closes
the database. `serve()` does all three, stopping on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.faces.engine import FaceEngine
from vigil.hub.config import HubConfig
from vigil.hub.ingest import HubConsumer
from vigil.hub.pusher import HubPusher
from vigil.hub.retention import HubRetention, schedule_hub_retention
from vigil.maintenance import Scheduler
from vigil.store.db import Database
from vigil.sync.server import NatsServer, ServerSpec, SiteLogin, connect_site, hub_secret

log = logging.getLogger(__name__)


def open_hub_db(config: HubConfig) -> Database:
    """The hub database `config` names: its URL, the embedded PostgreSQL, or SQLite."""
    url = config.database_url
    if config.postgres:
        from vigil.hub.pg import embedded_postgres_url

        url = embedded_postgres_url(config.hub_dir / "pg")
    return Database(url or f"sqlite:///{config.hub_dir / 'hub.db'}")


@dataclass
class HubNode:
    config: HubConfig
    engine: FaceEngine | Callable[[], FaceEngine] | None = None  # the web API's photo checks
    on_web_ready: Callable[[Any], None] | None = None  # gets the hub's ApiContext (set-up code)
    db: Database | None = field(default=None, init=False)
    server: NatsServer | None = field(default=None, init=False)
    consumer: HubConsumer | None = field(default=None, init=False)
    pusher: HubPusher | None = field(default=None, init=False)
    retention: HubRetention | None = field(default=None, init=False)
    maintenance: Scheduler = field(default_factory=lambda: Scheduler("hub"), init=False)
    web: Any = field(default=None, init=False)  # uvicorn.Server with `web: true`
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _stop_asked: threading.Event = field(default_factory=threading.Event, init=False)

    @property
    def thumbs_dir(self) -> Path:
        return self.config.hub_dir / "thumbs"

    def start(self) -> None:
        cfg = self.config
        if not cfg.sites:
            from vigil.errors import ConfigError

            raise ConfigError("the hub needs at least one site (sites: in hub.yaml)")
        logins = [SiteLogin(s.name, s.password()) for s in cfg.sites]  # fails before any start
        self.db = open_hub_db(cfg)
        spec = ServerSpec(
            "hub",
            cfg.hub_dir / "jetstream",
            cfg.nats.port,
            cfg.nats.http_port,
            "hub",
            host=cfg.nats.host,
            leaf_port=cfg.nats.leaf_port,
            sites=logins,
            hub_secret=hub_secret(cfg.hub_dir),
        )
        self.server = NatsServer(spec, cfg.hub_dir)
        self.server.start()
        access = self.server.access
        self.consumer = HubConsumer(self.db, access, cfg.site_names, thumbs_dir=self.thumbs_dir)
        self.pusher = HubPusher(self.db, lambda site: connect_site(access, site))
        self.retention = HubRetention.from_config(cfg)
        schedule_hub_retention(self.maintenance, self.db, self.retention, self.thumbs_dir)
        if cfg.web:
            self.web = self._web_server()

    def _web_server(self) -> Any:
        """The hub's web UI and API (`vigil.hub.app`) as a uvicorn server run in the loop."""
        import uvicorn

        from vigil.api.proxies import uvicorn_config
        from vigil.hub.app import create_hub_app
        from vigil.hub.context import HubContext, create_hub_context

        assert self.db is not None and self.server is not None
        cfg = self.config
        access = self.server.access
        api_ctx = create_hub_context(cfg, self.db, engine=self.engine)
        hub = HubContext(
            cfg.hub_dir,
            cfg.site_names,
            connect=lambda site: connect_site(access, site),
            monitor=self.server.monitor,
        )
        app = create_hub_app(api_ctx, hub)
        if self.on_web_ready is not None:
            self.on_web_ready(api_ctx)
        web = uvicorn.Server(uvicorn_config(app, cfg.api.host, cfg.api.port))
        web.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]  # ours stop it
        return web

    async def run(self) -> None:
        """Pull, push, keep retention and serve the web until `stop()`."""
        assert self.db is not None and self.consumer is not None and self.pusher is not None
        self._loop = asyncio.get_running_loop()
        if self._stop_asked.is_set():
            self._stop_now()
        self.maintenance.start()
        try:
            await asyncio.gather(
                self.consumer.run(),
                self.pusher.run(),
                *([self.web.serve()] if self.web is not None else []),
            )
        finally:  # a retention pass under way ends before the database closes
            await asyncio.to_thread(self.maintenance.stop)

    def stop(self) -> None:
        """Ask `run()` to finish; from any thread or a signal handler."""
        self._stop_asked.set()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._stop_now)

    def _stop_now(self) -> None:
        for part in (self.consumer, self.pusher):
            if part is not None:
                part.stop()
        if self.web is not None:
            self.web.should_exit = True

    def close(self) -> None:
        self.maintenance.stop()
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.db is not None:
            self.db.close()
            self.db = None

    def serve(self, on_started: Callable[[HubNode], None] | None = None) -> None:
        """Start, run until SIGINT or SIGTERM, close; `on_started` once all is up."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
            await self.run()

        try:
            self.start()
            if on_started is not None:
                on_started(self)
            asyncio.run(main())
        finally:
            self.close()
