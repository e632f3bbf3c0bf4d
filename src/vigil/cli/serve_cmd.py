"""`vigil serve`: record, analyse, notify and serve the web UI for every camera in vigil.yaml."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

import typer

from vigil.cli.state import AppState, console, state

# The node, the web app and what they load (OpenCV, PyAV, FastAPI) are imported when it runs.
if TYPE_CHECKING:
    from vigil.api import ApiContext
    from vigil.config import CameraConfig


def serve(
    ctx: typer.Context,
    web: bool = typer.Option(True, "--web/--no-web", help="Serve the web UI and API."),
    host: str | None = typer.Option(None, help="Web listen address (default: api.host)."),
    port: int | None = typer.Option(None, help="Web port (default: api.port)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log connects, segments, events."),
) -> None:
    """Run the site: recording, retention, analysis, events, notifications and the web UI."""
    run_site(state(ctx), web=web, host=host, port=port, verbose=verbose)


def print_setup_code(api_ctx: ApiContext) -> None:
    """While no admin exists, print the one-time code the web set-up page asks for."""
    code = api_ctx.setup_code.offer(api_ctx.db)
    if code is not None:
        console.print(
            f"no admin yet: open the web UI and enter the set-up code [bold]{code}[/] "
            f"(also in {api_ctx.setup_code.path}, readable by this user only)",
            highlight=False,
        )


def run_site(
    st: AppState,
    *,
    web: bool = True,
    host: str | None = None,
    port: int | None = None,
    verbose: bool = False,
) -> None:
    """Start the edge node (and the web server), and run until SIGTERM or Ctrl-C."""
    from vigil.api import ApiContext, create_app
    from vigil.config_edit import config_file
    from vigil.node import EdgeNode

    cfg = st.config
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    api_ctx = ApiContext(
        cfg, st.db(), engine=st.face_engine, config_path=config_file(st.config_path)
    )
    # Live view: MJPEG shows what analysis sees (privacy masks applied, no extra decoding);
    # H.264 for browsers is muxed from the packets each recorder already demuxes.
    node = EdgeNode(
        cfg, st.db(), st.face_engine, on_frame=api_ctx.live.publish_image, feeds=api_ctx.feeds
    )
    node.start()

    def camera_changed(camera: CameraConfig) -> None:
        """Zones and masks saved from the UI apply at once: to analysis, and to recordings
        that burn masks in."""
        for part in (node.analysis, node.recording):
            if part is not None:
                part.update_camera(camera)

    api_ctx.on_camera_change = camera_changed
    api_ctx.statuses = node.recording.statuses if node.recording else None
    cams = ", ".join(c.name for c in cfg.cameras if c.enabled) or "none"
    console.print(f"serving {cfg.site.name}: cameras {cams}; data in {st.data_dir}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = None
    try:
        if web:
            import uvicorn

            from vigil.api.proxies import uvicorn_config

            h, p = host or cfg.api.host, port or cfg.api.port
            config = uvicorn_config(create_app(api_ctx), h, p)
            server = uvicorn.Server(config)
            # In a thread, uvicorn leaves signals to us: SIGTERM stops the node cleanly too.
            web_thread = threading.Thread(target=server.run, name="web", daemon=True)
            web_thread.start()
            console.print(f"web UI and API on http://{h}:{p}/  (API docs: /api/v1/docs)")
            print_setup_code(api_ctx)
        stop.wait()
    finally:
        console.print("stopping...")
        if server is not None:
            api_ctx.live.close()  # ends open MJPEG streams, or shutdown waits for them
            api_ctx.feeds.close()
            server.should_exit = True
            web_thread.join(10)
        node.stop()
