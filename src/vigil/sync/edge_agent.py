"""`EdgeSync`: what `vigil serve` runs for the hub when `sync.enabled` is on.

It starts the site's nats-server (a leaf node of the hub, files under `<data_dir>/nats`)
unless the operator runs one (`sync.run_server: false`), then, in one thread with its own
event loop:
- publishes new and changed events, audit records, signed audit heads and thumbnails
  (`EdgePublisher`) as soon as the node stores an event (`wake`), and every `poll_s` for rows
  written by other processes (CLI, API) or held back by a full buffer or a link that was down,
  and once more when it stops (the head signed at shutdown);
- publishes camera status changes (`camera_status`);
- answers the hub's requests on `vigil.<site>.cmd.<verb>` with `vigil.sync.commands.handle`
  (subjects and bodies: `vigil.sync.wire`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from vigil.config import VigilConfig
from vigil.errors import ConfigError
from vigil.store.db import Database
from vigil.sync import wire
from vigil.sync.edge import MB, BufferLimits, EdgePublisher
from vigil.sync.server import NatsServer, ServerSpec

log = logging.getLogger(__name__)


def leaf_url(hub_url: str, site: str, password: str) -> str:
    """`nats-leaf://host:port` with this site's login added."""
    parts = urlsplit(hub_url)
    if parts.scheme not in ("nats-leaf", "nats", "tls") or not parts.hostname:
        raise ConfigError(f"sync.hub_url must look like nats-leaf://host:port, got {hub_url!r}")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    login = f"{quote(site, safe='')}:{quote(password, safe='')}@"
    return urlunsplit((parts.scheme, login + host, parts.path, "", ""))


def site_server_spec(config: VigilConfig, data_dir: Path) -> ServerSpec:
    sync = config.sync
    if not sync.password:
        raise ConfigError("sync.enabled is on but sync.password (the site's hub login) is empty")
    return ServerSpec(
        name=sync.site_id,
        store_dir=data_dir / "nats" / "jetstream",
        port=sync.port,
        http_port=sync.http_port,
        domain=sync.site_id,
        host=sync.host,
        hub_url=leaf_url(sync.hub_url, sync.site_id, sync.password),
    )


def buffer_limits(config: VigilConfig) -> BufferLimits:
    sync = config.sync
    return BufferLimits(
        events_bytes=int(sync.events_max_mb * MB),
        thumbnails_bytes=int(sync.thumbnails_max_mb * MB),
        audit_bytes=-1 if sync.audit_max_mb is None else int(sync.audit_max_mb * MB),
        thumbnails_max_age_s=config.privacy.snapshot_retention_days * 86400,
    )


class EdgeSync:
    """Start with `start()`, stop with `stop()`; `wake()` and `camera_status()` are safe to
    call from any thread."""

    def __init__(
        self, config: VigilConfig, db: Database, data_dir: Path, *, poll_s: float = 1.0
    ) -> None:
        self.config, self.db, self.data_dir = config, db, data_dir
        self.site = config.sync.site_id
        self.poll_s = poll_s
        self.server: NatsServer | None = None
        self.published = 0  # events and audit records acked by the local stream
        self.commands = 0  # hub requests answered
        self.connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._statuses: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def nats_url(self) -> str:
        return f"nats://{self.config.sync.host}:{self.config.sync.port}"

    def start(self) -> None:
        if self.config.sync.run_server:
            self.server = NatsServer(
                site_server_spec(self.config, self.data_dir), self.data_dir / "nats"
            )
            self.server.start()
        self._thread = threading.Thread(target=self._run, name="edge-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    def wake(self) -> None:
        """Something was stored: publish now rather than at the next poll."""
        loop, ev = self._loop, self._wake
        if loop is not None and ev is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(ev.set)

    def camera_status(self, camera: str, status: str) -> None:
        """Publish `camera`'s new status (only the latest one per camera is kept if the
        stream cannot take it yet)."""
        with self._lock:
            self._statuses[camera] = status
        self.wake()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        pub = EdgePublisher(
            self.db,
            self.site,
            self.nats_url,
            data_dir=self.data_dir,
            limits=buffer_limits(self.config),
        )
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(pub.connect(), 5)
                break
            except Exception as exc:  # server not up yet: keep trying, recording goes on
                log.warning("sync: the site's nats-server at %s: %s", self.nats_url, exc)
                await pub.close()
                await self._pause(2.0)
        else:
            return
        handlers: set[asyncio.Task[None]] = set()

        async def on_command(msg: Any) -> None:
            task = asyncio.create_task(self._answer(msg))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

        await pub.nc.subscribe(wire.commands_wildcard(self.site), cb=on_command)
        self.connected.set()
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                await self._keep_server_up()
                try:
                    await self._publish_statuses(pub)
                    self.published += await pub.publish_pending()
                except Exception:  # database busy, server restarting: the next round retries
                    log.exception("sync: publishing failed")
                await self._pause(self.poll_s)
        finally:
            for task in list(handlers):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 5)
            with contextlib.suppress(Exception):  # the last records and the shutdown head
                self.published += await asyncio.wait_for(pub.publish_pending(), 5)
            await pub.close()

    async def _keep_server_up(self) -> None:
        """Restart the site's nats-server if it died (its JetStream files survive); the
        publisher's connection reconnects by itself."""
        srv = self.server
        if srv is None or (srv.proc is not None and srv.proc.poll() is None):
            return
        log.warning("sync: the site's nats-server stopped; restarting it")
        try:
            await asyncio.to_thread(srv.start)
        except Exception as exc:
            log.warning("sync: restarting the site's nats-server failed: %s", exc)

    async def _pause(self, seconds: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _publish_statuses(self, pub: EdgePublisher) -> None:
        with self._lock:
            pending, self._statuses = self._statuses, {}
        for camera, status in pending.items():
            try:
                await pub.publish_status(camera, status)
            except Exception:
                with self._lock:  # keep it unless a newer one came meanwhile
                    self._statuses.setdefault(camera, status)
                raise

    async def _answer(self, msg: Any) -> None:
        from vigil.sync.commands import CommandContext, handle

        subj = wire.parse_subject(msg.subject)
        verb = subj.rest if subj is not None else ""
        try:
            body = wire.json_object(msg.data)
        except wire.WireError as exc:
            reply: dict[str, Any] = wire.Reply(ok=False, error=f"bad request: {exc}").dump()
        else:
            ctx = CommandContext(self.db, self.config, self.data_dir)
            try:
                reply = await asyncio.to_thread(handle, ctx, verb, body)
            except Exception as exc:  # a handler's bug: say so to the hub, keep serving
                log.exception("sync: command %s failed", verb)
                reply = wire.Reply(ok=False, error=f"{type(exc).__name__}: {exc}").dump()
        self.commands += 1
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(json.dumps(reply, default=str).encode())
