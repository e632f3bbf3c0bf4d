"""Hub-to-site commands: what a site does when the hub asks it something.

The hub sends a NATS request on `vigil.<site>.cmd.<verb>` (`wire.command_subject`, carried
over the leaf link); the site's `EdgeSync` (`vigil.sync.edge_agent`) answers it by calling
`HANDLERS[verb](ctx, body)` and replies with what it returns as JSON. A verb registered with
its request model (`vigil.sync.wire`) gets the body read into it (leniently: unknown fields
ignored, a newer schema refused) and returns its reply model; one registered without gets the
decoded JSON object and returns a dict. A handler raises `VigilError` for a request it
refuses; the agent replies `{"ok": false, "error": "..."}` (`wire.Reply`).

Handlers are registered by the module that owns the verb (`register`), and imported here at
the bottom so importing this module loads every verb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.config import VigilConfig
from vigil.store.db import Database
from vigil.sync import wire


@dataclass(frozen=True)
class CommandContext:
    """The edge a command runs on."""

    db: Database
    config: VigilConfig
    data_dir: Path

    @property
    def site(self) -> str:
        return self.config.sync.site_id


Handler = Callable[[CommandContext, Any], Any]  # (ctx, request model or dict) -> reply

HANDLERS: dict[str, Handler] = {}
REQUESTS: dict[str, type[wire.WireModel]] = {}  # verb -> the model its body is read into


def register(
    verb: str, request: type[wire.WireModel] | None = None
) -> Callable[[Handler], Handler]:
    """Decorator: `@register("person.put", wire.PersonPut)` makes the function answer that
    verb, given the body as a `wire.PersonPut`."""

    def wrap(fn: Handler) -> Handler:
        if verb in HANDLERS and HANDLERS[verb] is not fn:
            raise RuntimeError(f"command verb {verb!r} registered twice")
        HANDLERS[verb] = fn
        if request is not None:
            REQUESTS[verb] = request
        return fn

    return wrap


subject = wire.command_subject  # the request subject of a verb at a site


def handle(ctx: CommandContext, verb: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run one command; unknown verbs and refusals become an error reply, never an exception."""
    from vigil.errors import VigilError

    fn = HANDLERS.get(verb)
    if fn is None:
        return wire.Reply(ok=False, error=f"unknown command {verb!r}").dump()
    try:
        request = REQUESTS.get(verb)
        reply = fn(ctx, body if request is None else request.read(body))
    except VigilError as exc:  # wire.WireError too: a body it cannot read
        return wire.Reply(ok=False, error=str(exc)).dump()
    if isinstance(reply, wire.Reply):
        return reply.dump()
    return {"ok": True, **reply}


# Verbs (each module registers its own on import).
from vigil.sync import (  # noqa: E402,F401
    audit_head,  # audit.head
    clips,  # clip
    site_gallery,  # person.*, watchlist.*
    site_objections,  # objection.put
)
