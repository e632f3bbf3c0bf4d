"""What makes the site's web UI an installable app (PWA): the manifest, its icons (drawn here
with Pillow, no copied art) and the service worker that shows pushed notifications.

All three are public, like the login page: a browser fetches the manifest and the icons
without credentials. The service worker is served from `/sw.js` so that its scope is the whole
site; it caches nothing (every page is behind the login and fresh)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from PIL import Image, ImageDraw

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"

ICON_SIZES = (96, 180, 192, 512)
THEME = "#14213d"  # the header's colour (style.css)


@lru_cache(maxsize=len(ICON_SIZES))
def icon_png(size: int) -> bytes:
    """An eye in a ring on the theme colour, safe for maskable cropping (inner 80%)."""
    scale = 4  # drawn large, then shrunk: smooth edges without anti-aliasing support
    n = size * scale
    img = Image.new("RGB", (n, n), THEME)
    d = ImageDraw.Draw(img)
    c, r = n / 2, n * 0.30
    d.ellipse((c - r, c - r, c + r, c + r), outline="#ffffff", width=max(1, n // 24))
    eye_w, eye_h = n * 0.20, n * 0.11
    d.ellipse((c - eye_w, c - eye_h, c + eye_w, c + eye_h), fill="#ffffff")
    pupil = n * 0.065
    d.ellipse((c - pupil, c - pupil, c + pupil, c + pupil), fill="#d92d20")
    out = io.BytesIO()
    img.resize((size, size), Image.Resampling.LANCZOS).save(out, "PNG", optimize=True)
    return out.getvalue()


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> JSONResponse:
    site = request.app.state.ctx.config.site.name
    icons = [
        {"src": f"/icons/icon-{s}.png", "sizes": f"{s}x{s}", "type": "image/png", "purpose": p}
        for s in (192, 512)
        for p in ("any", "maskable")
    ]
    body = {
        "name": f"Vigil · {site}",
        "short_name": "Vigil",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f7f9",
        "theme_color": THEME,
        "icons": icons,
    }
    return JSONResponse(body, media_type="application/manifest+json")


@router.get("/icons/icon-{size}.png")
def icon(size: int) -> Response:
    if size not in ICON_SIZES:
        raise HTTPException(404, f"icons come in {', '.join(map(str, ICON_SIZES))} pixels")
    headers = {"Cache-Control": "public, max-age=86400"}
    return Response(icon_png(size), media_type="image/png", headers=headers)


@router.get("/sw.js")
def service_worker() -> FileResponse:
    headers = {"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"}
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers=headers)
