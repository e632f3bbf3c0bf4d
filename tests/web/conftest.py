"""A real server on 127.0.0.1 with recorded footage and live frames, and headless Chromium."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from tests.api.helpers import Footage, make_context
from vigil.api import ApiContext, create_app, feed_camera
from vigil.faces.engine import FaceEngine
from vigil.process import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Site:
    url: str
    ctx: ApiContext
    footage: Footage


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port, in a thread: its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def site(
    testdata: Path, footage: Footage, tmp_path_factory: pytest.TempPathFactory, engine: FaceEngine
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    data_dir = root / "var"
    shutil.copytree(footage.data_dir, data_dir)
    ctx = make_context(data_dir, footage.video, engine)  # no users: first-run set-up
    ctx.setup_code.offer(ctx.db)  # as `vigil serve` does: the code the set-up page needs
    stop = threading.Event()
    feed_camera(
        ctx.live, "lobby", str(testdata / "video" / "vtest.avi"), fps=5, loop=True, stop=stop
    )
    with serve(create_app(ctx)) as url:
        yield Site(url, ctx, footage)
        stop.set()
        ctx.live.close()  # ends open MJPEG streams, so the server can stop
    ctx.db.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (scripts/system-deps.sh test)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
