"""`vigil hub` (serve the hub: nats-server + consumer) and `vigil sync status` (the backlog)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

from vigil.cli.state import AppState
from vigil.errors import InputError

sync_app = typer.Typer(help="Edge-to-hub sync over NATS JetStream.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from vigil.cli.hub_cmd import hub_app  # the hub's gallery: people, watchlist, search

    hub_app.callback(invoke_without_command=True)(hub)
    hub_app.command("retention")(hub_retention)
    hub_app.command("clip")(hub_clip)
    app.add_typer(hub_app, name="hub")
    app.add_typer(sync_app, name="sync")


def _logins(sites: list[str]) -> list:  # type: ignore[type-arg]
    from vigil.sync.server import SiteLogin

    out = []
    for item in sites:
        name, sep, password = item.partition(":")
        if not sep or not name or not password:
            raise InputError(f"--site wants NAME:PASSWORD, got {item!r}")
        out.append(SiteLogin(name, password))
    return out


def hub(
    ctx: typer.Context,
    site: list[str] = typer.Option(
        [], "--site", help="A site allowed to connect, as NAME:PASSWORD (repeat per site)."
    ),
    hub_dir: Path = typer.Option(Path("var-hub"), "--hub-dir", help="Hub data folder."),
    host: str = typer.Option("127.0.0.1", help="Address the hub's nats-server listens on."),
    port: int = typer.Option(4222, help="Client port."),
    http_port: int = typer.Option(8222, help="Monitoring port."),
    leaf_port: int = typer.Option(7422, help="Leaf-node port the sites connect to."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Hub database URL (default: SQLite in the hub folder)."
    ),
    postgres: bool = typer.Option(
        False, "--postgres", help="Use an embedded PostgreSQL + pgvector (pgserver)."
    ),
    listen: str | None = typer.Option(
        None,
        "--listen",
        help="Serve the hub's web UI and API on HOST:PORT (e.g. 127.0.0.1:8090).",
    ),
) -> None:
    """Serve the hub: a nats-server with one leaf login per site, and the consumer that pulls
    every site's events, camera status, audit records and thumbnails into the hub database,
    and sends the hub gallery's pushes to the sites. With a subcommand (people, watchlist,
    search, ...), these options only name the hub's folder and database."""
    if ctx.invoked_subcommand is not None:
        return
    if not site:
        raise InputError("vigil hub needs at least one --site NAME:PASSWORD")
    from vigil.hub.ingest import HubConsumer
    from vigil.hub.pusher import HubPusher
    from vigil.store.db import Database
    from vigil.sync.server import NatsServer, ServerSpec, connect_site, hub_secret

    logins = _logins(site)
    out = Console()
    if postgres:
        from vigil.hub.pg import embedded_postgres_url

        database_url = embedded_postgres_url(hub_dir / "pg")
    db = Database(database_url or f"sqlite:///{hub_dir / 'hub.db'}")
    spec = ServerSpec(
        "hub",
        hub_dir / "jetstream",
        port,
        http_port,
        "hub",
        host=host,
        leaf_port=leaf_port,
        sites=logins,
        hub_secret=hub_secret(hub_dir),
    )
    server = NatsServer(spec, hub_dir)
    server.start()
    out.print(
        f"hub: nats {server.url}, leaf nodes on {host}:{leaf_port}, sites: "
        + ", ".join(s.site for s in logins)
    )
    consumer = HubConsumer(
        db, server.access, [s.site for s in logins], thumbs_dir=hub_dir / "thumbs"
    )

    pusher = HubPusher(db, lambda name: connect_site(server.access, name))
    from vigil.hub.retention import HubRetention, run_hourly

    policy = HubRetention.from_config(ctx.obj.config)
    out.print(
        f"hub retention: events {policy.event_days:g} days, audit copies {policy.audit_days:g} days"
    )
    web = _hub_web(ctx, listen, db, hub_dir, server, [s.site for s in logins]) if listen else None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()

        def stop() -> None:
            consumer.stop()
            pusher.stop()
            stopping.set()
            if web is not None:
                web.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        await asyncio.gather(
            consumer.run(),
            pusher.run(),
            run_hourly(db, policy, hub_dir / "thumbs", stopping),
            *([web.serve()] if web is not None else []),
        )

    try:
        asyncio.run(main())
    finally:
        server.stop()
        db.close()
        s = consumer.stored
        out.print(
            f"stored {s.events} events, {s.updates} updates, {s.deleted} deletions "
            f"({s.duplicates} duplicates ignored), "
            f"{s.audit} audit records, {s.status} status updates, {s.thumbnails} thumbnails"
        )


def _hub_web(ctx: typer.Context, listen: str, db, hub_dir: Path, server, sites: list[str]):  # type: ignore[no-untyped-def]
    """The hub's web UI and API (`vigil.hub.app`) as a uvicorn server to run in the loop."""
    import uvicorn

    from vigil.api.proxies import uvicorn_config
    from vigil.cli.serve_cmd import print_setup_code
    from vigil.hub.app import create_hub_app
    from vigil.hub.context import HubContext, create_hub_context
    from vigil.sync.server import connect_site

    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(f"--listen wants HOST:PORT, got {listen!r}")
    st: AppState = ctx.obj
    api_ctx = create_hub_context(st.config, db, hub_dir, engine=lambda: st.face_engine)
    hub = HubContext(
        hub_dir,
        sites,
        connect=lambda site: connect_site(server.access, site),
        monitor=server.monitor,
    )
    app = create_hub_app(api_ctx, hub)
    Console().print(f"hub web UI and API on http://{host}:{port}/  (API docs: /api/v1/docs)")
    print_setup_code(api_ctx)
    config = uvicorn_config(app, host, int(port))
    web = uvicorn.Server(config)
    web.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # ours stop it
    return web


def hub_retention(ctx: typer.Context) -> None:
    """Delete the hub's copies past their retention now (`vigil hub` also does it hourly):
    events and thumbnails after sync.hub_event_retention_days, audit copies after
    sync.hub_audit_retention_days (default privacy.audit_retention_days)."""
    from vigil.cli.hub_cmd import hub_db
    from vigil.hub.retention import HubRetention, run_hub_retention

    policy = HubRetention.from_config(ctx.obj.config)
    with hub_db(ctx) as (db, _audit, hub_dir):
        run = run_hub_retention(db, policy, hub_dir / "thumbs")
    Console().print(
        f"hub retention ({policy.event_days:g} days events, {policy.audit_days:g} days audit): "
        f"deleted {run.events} events, {run.thumbnails} thumbnails, {run.audit} audit copies, "
        f"{run.tombstones} tombstones"
    )


def hub_clip(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="The site that has the footage."),
    camera: str = typer.Argument(..., help="The camera at that site."),
    start: datetime = typer.Option(..., "--from", help="Start (ISO, with a time zone)."),
    end: datetime = typer.Option(..., "--to", help="End (ISO, with a time zone)."),
    reason: str = typer.Option("", help="Why (required; audited at the site and the hub)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder to put the ZIP in."),
    redact: bool = typer.Option(True, "--redact/--no-redact", help="Pixelate faces."),
    timeout: float = typer.Option(120.0, help="Seconds to wait for the site."),
) -> None:
    """Fetch a clip from a site through the running hub's nats-server (`--host`/`--port` of
    `vigil hub`): the site cuts, redacts, signs and audits it; the hub audits it too."""
    from nats.errors import NoServersError

    from vigil.cli.hub_cmd import _hub_params, hub_db
    from vigil.cli.state import current_user
    from vigil.privacy.audit import Action
    from vigil.sync.clips import ClipRequest, fetch_clip
    from vigil.sync.server import HubAccess, connect_site, hub_secret

    p = _hub_params(ctx)
    req = ClipRequest(camera, start, end, reason, current_user(), redact).validated()

    async def fetch(access: HubAccess):  # type: ignore[no-untyped-def]
        nc = await connect_site(access, site, max_reconnect_attempts=0, connect_timeout=5)
        try:
            return await fetch_clip(nc, site, req, out, timeout=timeout)
        finally:
            await nc.close()

    with hub_db(ctx) as (db, audit, hub_dir):
        url = f"nats://{p.get('host', '127.0.0.1')}:{p.get('port', 4222)}"
        try:
            got = asyncio.run(fetch(HubAccess(url, hub_secret(hub_dir))))
        except (OSError, NoServersError) as exc:
            raise InputError(f"the hub's nats-server at {url} is not reachable") from exc
        audit.record(
            db,
            actor=req.who,
            action=Action.export,
            reason=req.reason,
            camera=camera,
            source="cli",
            details=got.audit_details(),
        )
    Console().print(f"{got.path} ({got.size} bytes, {'redacted' if got.redacted else 'original'})")


@sync_app.command("status")
def status(ctx: typer.Context) -> None:
    """This site's backlog: rows not yet in the local stream, messages the hub has not acked."""
    from vigil.sync.edge import EdgePublisher

    state: AppState = ctx.obj
    cfg = state.config.sync
    pub = EdgePublisher(state.db(), cfg.site_id, f"nats://{cfg.host}:{cfg.port}")

    async def main() -> None:
        import nats

        try:
            await asyncio.wait_for(pub.connect(), 5)
        except (TimeoutError, nats.errors.NoServersError, OSError) as exc:
            raise InputError(
                f"the site's nats-server at {cfg.host}:{cfg.port} is not reachable"
            ) from exc
        try:
            b = await pub.backlog()
        finally:
            await pub.close()
        out = Console()
        out.print(f"site {cfg.site_id}: backlog {b.total}")
        out.print(
            f"  not yet in the local stream: {b.unpublished_events} events, "
            f"{b.unpublished_audit} audit records"
        )
        for name, n in b.link.items():
            out.print(f"  {name}: {n} not yet acked by the hub")

    asyncio.run(main())
