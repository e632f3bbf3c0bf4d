"""`vigil config ...`: check and explain vigil.yaml."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from vigil.cli.state import console
from vigil.config import VigilConfig, config_errors

app = typer.Typer(help="Check and explain the configuration file.", no_args_is_help=True)


@app.command("check")
def check(file: Path = typer.Argument(..., help="The vigil.yaml to check.")) -> None:
    """Validate FILE and report every error with its path and line."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot read {file}:[/] {exc}")
        raise typer.Exit(2) from exc
    problems = config_errors(text)
    if problems:
        console.print(f"[red]{file}: {len(problems)} error(s)[/]")
        for p in problems:
            console.print(f"  {p}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]{file}: OK[/]")


@app.command("defaults")
def defaults() -> None:
    """Print a vigil.yaml with every setting at its default value."""
    data = VigilConfig().model_dump(mode="json")
    typer.echo(yaml.safe_dump(data, sort_keys=False))
