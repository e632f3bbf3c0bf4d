"""`vigil notice`: write the public transparency notice (HTML and PDF) from the live settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from vigil.cli.state import console, state


def register(app: typer.Typer) -> None:
    app.command("notice")(notice)


def notice(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", help="Folder for notice.html and notice.pdf (default: <data_dir>/notice)."
    ),
    fmt: Literal["both", "html", "pdf"] = typer.Option(
        "both", "--format", help="Which files to write."
    ),
) -> None:
    """The notice to post at the site: who operates the cameras, where, what is recorded, face
    recognition, retention and how to make a request. Written from vigil.yaml, so it says what
    the system is set to do; rerun it after every change."""
    from vigil.privacy.notice import write_notice

    st = state(ctx)
    kinds = ("html", "pdf") if fmt == "both" else (fmt,)
    for path in write_notice(st.config, out or st.data_dir / "notice", kinds):
        console.print(f"wrote {path}")
