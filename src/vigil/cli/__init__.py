"""The `vigil` command. Each area adds its sub-commands from its own module.

Command modules are imported only when their command runs or its help is asked (`LazyGroup`),
so `vigil --help` does not load OpenCV, the face models, PyAV, SQLAlchemy or FastAPI. The root
help lists each command from `COMMANDS`: a new command needs a line there (a test checks that
the table names exactly what the modules register).
"""

from __future__ import annotations

import gc
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from vigil.cli.state import AppState
from vigil.errors import VigilError


@dataclass(frozen=True)
class Lazy:
    """Where a root command comes from, and its line in `vigil --help`.

    `target` is `module:attribute`: a Typer app (a command group), a function (one command),
    or `register` (a function that adds several commands to the app it is given)."""

    target: str
    help: str
    hidden: bool = False


# In the order `vigil --help` lists them (single commands first, as Typer lists them).
COMMANDS: dict[str, Lazy] = {
    "demo": Lazy(
        "vigil.cli.demo_cmd:demo",
        "Set up a demo site (three sample cameras, an enrolled person) and serve its web UI.",
    ),
    "analyze": Lazy(
        "vigil.cli.analyze_cmd:analyze",
        "Detect, track and recognise people in a video; print the events.",
    ),
    "serve": Lazy(
        "vigil.cli.serve_cmd:serve",
        "Run the site: recording, retention, analysis, events, notifications and the web UI.",
    ),
    "record": Lazy(
        "vigil.cli.camera_cmd:register", "Record every enabled camera until Ctrl-C or SIGTERM."
    ),
    "api": Lazy(
        "vigil.cli.api_cmd:api", "Serve the web UI and REST API (without recording or analysis)."
    ),
    "web": Lazy("vigil.cli.api_cmd:api", "Same as `vigil api`.", hidden=True),
    "notice": Lazy(
        "vigil.cli.notice_cmd:register",
        "The notice to post at the site: who operates the cameras, where, what is recorded, "
        "face recognition, retention and how to make a request.",
    ),
    "dpia": Lazy(
        "vigil.cli.notice_cmd:register",
        "A draft data-protection impact assessment (HTML and PDF) from the live settings.",
    ),
    "records": Lazy(
        "vigil.cli.notice_cmd:register",
        "The record of processing activities, GDPR Art. 30 (HTML and PDF), from the live "
        "settings.",
    ),
    "config": Lazy("vigil.cli.config_cmd:app", "Check and explain the configuration file."),
    "faces": Lazy("vigil.cli.faces_cmd:app", "Face detection, enrolment and recognition."),
    "eval": Lazy("vigil.cli.eval_cmd:app", "Measure face matching and person analysis."),
    "bench": Lazy("vigil.cli.bench_cmd:app", "Benchmarks: figures beside an in-run baseline."),
    "report": Lazy("vigil.cli.report_cmd:app", "Reports: zone time lines and counts."),
    "cameras": Lazy(
        "vigil.cli.camera_cmd:register",
        "Cameras: list, probe a URL, show status, discover and add ONVIF cameras.",
    ),
    "export": Lazy(
        "vigil.cli.camera_cmd:register",
        "Export footage (`vigil export CAMERA --from .. --to ..`; redacted unless --original) "
        "and verify exports.",
    ),
    "retention": Lazy(
        "vigil.cli.storage_cmd:register", "Footage retention: run a pass, show the last one."
    ),
    "segments": Lazy(
        "vigil.cli.storage_cmd:register",
        "Recorded segments: evidence locks, checksum scrub, lost footage.",
    ),
    "watchlists": Lazy(
        "vigil.cli.watchlists_cmd:app", "The site's watchlists: action and confirmations."
    ),
    "events": Lazy("vigil.cli.events_cmd:app", "Events: matches to verify (confirm or reject)."),
    "users": Lazy("vigil.cli.users_cmd:app", "Web UI and API accounts."),
    "push": Lazy("vigil.cli.push_cmd:app", "Web Push: devices told of alerts and review items."),
    "audit": Lazy(
        "vigil.cli.audit_cmd:register", "The tamper-evident audit log: verify, show, checkpoint."
    ),
    "privacy": Lazy(
        "vigil.cli.privacy_cmd:register",
        "Privacy: retention that deletes, redaction, signed exports, access requests.",
    ),
    "hub": Lazy(
        "vigil.cli.hub_cmd:register",
        "The hub: serve it (settings in hub.yaml), or manage its gallery.",
    ),
    "sync": Lazy("vigil.cli.sync_cmd:register", "Edge-to-hub sync over NATS JetStream."),
}

# A module's commands, built once per process: `register` functions add to the apps they are
# given, so they must not run twice.
_built: dict[str, TyperGroup] = {}


def load_command(name: str) -> Any:
    """The click command `name` of the root app, importing its module now."""
    spec = COMMANDS[name]
    module, _, attr = spec.target.partition(":")
    key = spec.target if attr == "register" else f"{spec.target} as {name}"
    group = _built.get(key)
    if group is None:
        obj = getattr(importlib.import_module(module), attr)
        holder = typer.Typer()
        if attr == "register":
            obj(holder)
        elif isinstance(obj, typer.Typer):
            holder.add_typer(obj, name=name)
        else:
            holder.command(name, hidden=spec.hidden)(obj)
        group = _built[key] = typer.main.get_group(holder)
    cmd = group.commands.get(name)
    if cmd is None:
        raise LookupError(f"{spec.target} adds no command {name!r}")
    return cmd


class LazyGroup(TyperGroup):
    """The root group: lists `COMMANDS` without importing them; imports one when it runs."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        if self._listing:  # the root help: the table's line, nothing imported
            spec = COMMANDS[cmd_name]
            return TyperCommand(cmd_name, help=spec.help, hidden=spec.hidden)
        return load_command(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # Typer suggests close names from self.commands: give it every name.
        for name in COMMANDS:
            self.commands.setdefault(name, TyperCommand(name, hidden=True))
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="vigil",
    cls=LazyGroup,
    help="Vigil: an accountable camera network with face recognition.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Path of vigil.yaml (default: ./vigil.yaml if present)."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Override storage.data_dir (database, recordings, keys)."
    ),
) -> None:
    ctx.obj = AppState(config_path=config, data_dir_override=data_dir)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; expected errors print as one clear message."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        app(args=argv, prog_name="vigil")  # handles usage errors itself, then exits
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except VigilError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False)
        return exc.exit_code
    return 0


def main() -> None:
    code = run()
    # What the command loaded (models, plots, the web stack) dies with the process: frozen,
    # the interpreter's closing garbage collection skips it (~0.2 s of a face run's exit).
    gc.freeze()
    sys.exit(code)
