"""Request limits: how much body a caller may send, and how many photos are analysed at once.

`RequestLimits` is pure ASGI and sits in front of authentication and parsing, so nothing it
refuses is ever read whole. Each request gets a body limit by its class:

- `/api/v1/auth/...` (login, set-up, password, tokens): `AUTH_BODY_MAX` (64 KiB);
- multipart bodies (photo uploads): `api.upload_max_mb`, and only from an authenticated caller
  (session cookie with its CSRF header, or an API token), checked from the headers before one
  byte of the body is read: otherwise 401 (403 for a missing CSRF token). Without this check
  the form parser would spool the whole upload before any route dependency ran;
- anything else (JSON): `JSON_BODY_MAX` (1 MiB).

A declared Content-Length over the limit is answered 413 at once; otherwise the bytes of the
`http.request` messages are counted while the app reads them, and the read that passes the
limit ends the request with 413. Refusals carry `Connection: close` when the body was not read.

`AnalysisPool` bounds photo analysis (decode + face detection + embedding) for requests: at
most `api.image_analyses_at_once` run together; a request waits up to `api.image_analysis_wait_s`
for a turn, then gets 503 with Retry-After. Routes take a turn with `dependencies=[ANALYSIS_SLOT]`.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Iterator

import anyio
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.context import ApiContext

AUTH_BODY_MAX = 64 * 1024
JSON_BODY_MAX = 1024 * 1024
MB = 1024 * 1024
AUTH_PREFIX = "/api/v1/auth/"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body passes its limit. An HTTPException, so FastAPI's
    body parsing lets it through (it turns other errors into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit), headers={"Connection": "close"})


def too_large(limit: int) -> str:
    size = f"{limit / MB:.4g} MiB" if limit >= MB else f"{limit / 1024:.4g} KiB"
    return f"request body too large: at most {size} here"


def _refusal(status: int, detail: str, extra: dict[str, str] | None = None) -> JSONResponse:
    headers = {"Connection": "close", **(extra or {})}
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


class RequestLimits:
    """Body-size limits by route class and authentication of uploads, before the app reads."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    def limit_for(self, path: str, multipart: bool) -> int:
        if path.startswith(AUTH_PREFIX):
            return AUTH_BODY_MAX
        if multipart:
            return int(self.ctx.config.api.upload_max_mb * MB)
        return JSON_BODY_MAX

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.limit_for(scope["path"], multipart)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _refusal(400, "Content-Length is not a number")(scope, receive, send)
                return
            if length > limit:
                await _refusal(413, too_large(limit))(scope, receive, send)
                return
        if multipart and scope["method"] in UNSAFE:
            refusal = await anyio.to_thread.run_sync(self._unauthenticated, scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._counted(scope, receive, send, limit)

    def _unauthenticated(self, scope: Scope) -> JSONResponse | None:
        """A 401/403 for an upload whose caller is not logged in, or None to go on."""
        from vigil.api.deps import CSRF_HEADER, optional_principal

        request = Request(scope)
        try:
            p = optional_principal(request, self.ctx)
        except HTTPException as exc:  # a malformed or unknown API token
            return _refusal(exc.status_code, str(exc.detail), {"WWW-Authenticate": "Bearer"})
        if p is None:
            return _refusal(401, "not logged in", {"WWW-Authenticate": "Bearer"})
        if p.via == "session":
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not secrets.compare_digest(sent, p.csrf_token or ""):
                return _refusal(403, f"CSRF token missing or wrong (send the {CSRF_HEADER} header)")
        return None

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen = 0
        over = False
        started = False
        replaced = False

        async def counting_receive() -> Message:
            nonlocal seen, over
            if over:  # the app reads on after the refusal: tell it the client is gone
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:  # the app's own answer after the refusal is dropped
                return
            if message["type"] == "http.response.start":
                started = True
                if over and message["status"] != 413:
                    # the app answered otherwise after the refusal (its own error for a body
                    # cut short): the caller gets the 413
                    replaced = True
                    await _refusal(413, too_large(limit))(scope, _closed, send)
                    return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await _refusal(413, too_large(limit))(scope, _closed, send)
            return


async def _closed() -> Message:
    return {"type": "http.disconnect"}


class AnalysisPool:
    """At most `at_once` photo analyses at a time; a turn is waited for `wait_s` at most."""

    def __init__(self, at_once: int, wait_s: float) -> None:
        self.at_once = at_once
        self.wait_s = wait_s
        self._turns = threading.BoundedSemaphore(at_once)

    def acquire(self) -> bool:
        return self._turns.acquire(timeout=self.wait_s)

    def release(self) -> None:
        self._turns.release()

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.wait_s))


def analysis_slot(request: Request) -> Iterator[None]:
    """A turn in the app's `AnalysisPool` for the request's photo analysis (503 when none
    frees up in time). Sync, so the wait happens on a worker thread, not the event loop."""
    pool: AnalysisPool = request.app.state.analyses
    if not pool.acquire():
        raise HTTPException(
            503,
            f"busy: {pool.at_once} photo analyses are running; try again shortly",
            headers={"Retry-After": str(pool.retry_after_s)},
        )
    try:
        yield
    finally:
        pool.release()


# in a route decorator: `dependencies=[ANALYSIS_SLOT]` (held while the route function runs)
ANALYSIS_SLOT = Depends(analysis_slot, scope="function")


def install_request_limits(app: FastAPI, ctx: ApiContext) -> None:
    """Add the body limits (outermost middleware: call after every other `add_middleware`)
    and the photo-analysis pool to `app` (a site's or the hub's)."""
    a = ctx.config.api
    app.state.analyses = AnalysisPool(a.image_analyses_at_once, a.image_analysis_wait_s)
    app.add_middleware(RequestLimits, ctx=ctx)
