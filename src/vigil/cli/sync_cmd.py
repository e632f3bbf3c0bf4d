"""`vigil sync status`: this site's backlog towards its hub (`vigil hub` is `hub_cmd`)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from vigil.cli.state import AppState
from vigil.errors import InputError

sync_app = typer.Typer(help="Edge-to-hub sync over NATS JetStream.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sync_app, name="sync")


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
