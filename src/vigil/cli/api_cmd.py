"""`vigil api`: serve the web UI and API alone (development); `vigil serve` adds the rest."""

from __future__ import annotations

import logging
import threading

import typer

from vigil.cli.serve_cmd import print_setup_code
from vigil.cli.state import console, state


def api(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Listen address (default: api.host)."),
    port: int | None = typer.Option(None, help="Port (default: api.port)."),
    live: bool = typer.Option(
        True, help="Decode each enabled camera's analysis stream for the live view."
    ),
) -> None:
    """Serve the web UI and REST API (without recording or analysis)."""
    import uvicorn

    from vigil.api import ApiContext, create_app, feed_camera
    from vigil.api.proxies import uvicorn_config
    from vigil.config_edit import config_file

    st = state(ctx)
    cfg = st.config
    logging.getLogger("alembic").setLevel(logging.WARNING)
    api_ctx = ApiContext(
        cfg, st.db(), engine=lambda: st.face_engine, config_path=config_file(st.config_path)
    )
    stop = threading.Event()
    if live:
        for cam in cfg.cameras:
            if cam.enabled:
                feed_camera(
                    api_ctx.live, cam.name, cam.sub_url or cam.url, loop=cam.loop, stop=stop
                )
    app = create_app(api_ctx)
    h, p = host or cfg.api.host, port or cfg.api.port
    console.print(f"web UI and API on http://{h}:{p}/  (API docs: /api/v1/docs)")
    print_setup_code(api_ctx)
    server = uvicorn.Server(uvicorn_config(app, h, p))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
    if not server.started:  # as uvicorn.run: the port was taken or the app failed to start
        raise typer.Exit(3)
