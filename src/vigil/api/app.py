"""The FastAPI application: `create_app(ctx)` wires the API (/api/v1) and the web UI (/)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.api.context import ApiContext
from vigil.api.export_jobs import close_export_jobs, export_jobs
from vigil.api.limits import install_request_limits
from vigil.api.routes import (
    audit_log,
    auth,
    cameras,
    event_stream,
    events,
    exports,
    health,
    live,
    objections,
    onvif,
    people,
    privacy_docs,
    push,
    review,
    search,
    settings,
    storage,
    timeline,
    users,
    verification,
    watchlists,
    zones,
)
from vigil.api.schemas import ErrorOut
from vigil.errors import ConflictError, InputError, NotFoundError, VigilError
from vigil.storage import TmpFull, TmpSpace

log = logging.getLogger("vigil.api")
API_PREFIX = "/api/v1"


def _field(loc: tuple) -> str:
    parts = [str(x) for x in loc if x not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[-1] if loc else "request")


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers {"detail": "<sentence>"} (plus per-field errors for 422)."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            msg = str(e.get("msg", "invalid"))
            errors.append({"field": _field(tuple(e.get("loc", ()))), "message": msg})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(TmpFull)
    async def _tmp_full(request: Request, exc: TmpFull) -> JSONResponse:
        return JSONResponse(status_code=507, content={"detail": str(exc)})

    @app.exception_handler(VigilError)
    async def _vigil(request: Request, exc: VigilError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(
            status_code=exc.status_code, content={"detail": detail}, headers=exc.headers
        )


class UploadRoom:
    """Refuse a multipart upload (507) before it is read when the temporary space under
    `<data_dir>/tmp` (where the parser spools it) has no room for its declared length."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            if headers.get(b"content-type", b"").startswith(b"multipart/"):
                try:
                    length = int(headers.get(b"content-length", b"0"))
                except ValueError:
                    length = 0
                tmp = TmpSpace.from_config(self.ctx.config)
                try:
                    await anyio.to_thread.run_sync(tmp.check, length, "this upload")
                except TmpFull as exc:
                    await JSONResponse(status_code=507, content={"detail": str(exc)})(
                        scope, receive, send
                    )
                    return
        await self.app(scope, receive, send)


def create_app(ctx: ApiContext, *, web: bool = True) -> FastAPI:
    """The app serving `ctx`. `web=False` leaves out the HTML pages (API only)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # temporary files (upload spools, exports) under <data_dir>/tmp, never the system's
        tmp = TmpSpace.from_config(ctx.config)
        await anyio.to_thread.run_sync(tmp.clean)
        previous = tmp.install()
        await anyio.to_thread.run_sync(export_jobs, ctx)  # sweeps what a crash left
        yield
        ctx.live.close()  # ends open MJPEG streams so the server can stop
        ctx.feeds.close()  # and the live H.264 ones
        await anyio.to_thread.run_sync(close_export_jobs, ctx)
        tmp.uninstall(previous)

    app = FastAPI(
        title="Vigil API",
        version="1",
        summary="Accountable camera network: cameras, footage, events, people, search, users.",
        description="Log in with POST /api/v1/auth/login (session cookie; send the returned "
        "csrf_token as X-CSRF-Token on POST/PATCH/DELETE) or send an API token as "
        "`Authorization: Bearer vgl_...`. Views of footage, exports, searches and enrolments "
        "are written to the audit log.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
        responses={
            401: {"model": ErrorOut, "description": "Not logged in"},
            403: {"model": ErrorOut, "description": "Not allowed, or CSRF token missing"},
            422: {"model": ErrorOut, "description": "Invalid input"},
        },
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(event_stream.router, prefix=API_PREFIX)  # before /events/{uid}
    app.add_middleware(UploadRoom, ctx=ctx)
    install_request_limits(app, ctx)  # outermost: before UploadRoom and parsing
    for r in (auth, cameras, exports, events, people, search, users, settings, audit_log, storage):
        app.include_router(r.router, prefix=API_PREFIX)
    for r in (
        watchlists,
        zones,
        review,
        verification,
        privacy_docs,
        objections,
        health,
        timeline,
        push,
        onvif,
    ):
        app.include_router(r.router, prefix=API_PREFIX)
    app.include_router(live.router, prefix=API_PREFIX)
    if web:
        from vigil.web.pages import mount_web

        mount_web(app)
    return app
