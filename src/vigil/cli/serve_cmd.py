"""`vigil serve`: record, analyse and notify for every camera in vigil.yaml until stopped."""

from __future__ import annotations

import logging
import signal
import threading

import typer

from vigil.cli.state import console, state
from vigil.node import EdgeNode


def serve(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log connects, segments, events."),
) -> None:
    """Run the site: recording, retention, analysis, events and notifications."""
    st = state(ctx)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    node = EdgeNode(st.config, st.db(), st.face_engine)
    node.start()
    cams = ", ".join(c.name for c in st.config.cameras if c.enabled) or "none"
    console.print(f"serving {st.config.site.name}: cameras {cams}; data in {st.data_dir}")
    try:
        stop.wait()
    finally:
        console.print("stopping...")
        node.stop()
