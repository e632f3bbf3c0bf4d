"""The `vigil` command. Each area adds its sub-commands from its own module."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

import vigil.cli.api_cmd as api_cmd
import vigil.cli.audit_cmd as audit_cmd
import vigil.cli.camera_cmd as camera_cmd
import vigil.cli.notice_cmd as notice_cmd
import vigil.cli.privacy_cmd as privacy_cmd
import vigil.cli.storage_cmd as storage_cmd
import vigil.cli.sync_cmd as sync_cmd
import vigil.cli.users_cmd as users_cmd
from vigil.cli import (
    analyze_cmd,
    bench_cmd,
    config_cmd,
    demo_cmd,
    eval_cmd,
    faces_cmd,
    report_cmd,
    serve_cmd,
)
from vigil.cli.state import AppState
from vigil.errors import VigilError

app = typer.Typer(
    name="vigil",
    help="Vigil: an accountable camera network with face recognition.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(faces_cmd.app, name="faces")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(report_cmd.app, name="report")
app.command("demo")(demo_cmd.demo)
app.command("analyze")(analyze_cmd.analyze)
app.command("serve")(serve_cmd.serve)
camera_cmd.register(app)  # cameras, record, export
storage_cmd.register(app)  # retention, segments
app.add_typer(users_cmd.app, name="users")
app.command("api")(api_cmd.api)
app.command("web", hidden=True)(api_cmd.api)
audit_cmd.register(app)  # audit verify, show, checkpoint, pubkey
notice_cmd.register(app)  # public transparency notice
privacy_cmd.register(app)  # privacy status, retention, redact, verify, sar
sync_cmd.register(app)  # hub, sync status


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
    sys.exit(run())
