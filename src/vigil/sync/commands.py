"""Hub-to-site commands: what a site does when the hub asks it something.

The hub sends a NATS request on `vigil.<site>.cmd.<verb>` (carried over the leaf link); the
site's `EdgeSync` (`vigil.sync.edge_agent`) answers it by calling `HANDLERS[verb](ctx, body)`
with the decoded JSON body and replies with the returned dict as JSON. A handler raises
`VigilError` for a request it refuses; the agent replies `{"ok": false, "error": "..."}`.

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


@dataclass(frozen=True)
class CommandContext:
    """The edge a command runs on."""

    db: Database
    config: VigilConfig
    data_dir: Path

    @property
    def site(self) -> str:
        return self.config.sync.site_id


Handler = Callable[[CommandContext, dict[str, Any]], dict[str, Any]]

HANDLERS: dict[str, Handler] = {}


def register(verb: str) -> Callable[[Handler], Handler]:
    """Decorator: `@register("person.put")` makes the function answer that verb."""

    def wrap(fn: Handler) -> Handler:
        if verb in HANDLERS and HANDLERS[verb] is not fn:
            raise RuntimeError(f"command verb {verb!r} registered twice")
        HANDLERS[verb] = fn
        return fn

    return wrap


def subject(site: str, verb: str) -> str:
    """The request subject of `verb` at `site`."""
    return f"vigil.{site}.cmd.{verb}"


def handle(ctx: CommandContext, verb: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run one command; unknown verbs and refusals become an error reply, never an exception."""
    from vigil.errors import VigilError

    fn = HANDLERS.get(verb)
    if fn is None:
        return {"ok": False, "error": f"unknown command {verb!r}"}
    try:
        reply = fn(ctx, body)
    except VigilError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, **reply}


# Verbs (each module registers its own on import).
from vigil.sync import (  # noqa: E402,F401
    clips,  # clip
    site_gallery,  # person.*, watchlist.*
)
