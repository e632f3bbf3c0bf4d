"""`vigil notice`, `vigil dpia`, `vigil records`: documents written from the live settings.

The public notice (or, `--for workers`, the workers' notice), the DPIA draft and the record of
processing, each as HTML and PDF (`vigil.privacy.documents`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from vigil.cli.state import console, state


def register(app: typer.Typer) -> None:
    app.command("notice")(notice)
    app.command("dpia")(dpia)
    app.command("records")(records)


Format = Literal["both", "html", "pdf"]
OUT_HELP = "Folder for the HTML and PDF files (default: <data_dir>/notice)."


def _write(ctx: typer.Context, name: str, out: Path | None, fmt: Format) -> None:
    from vigil.privacy.documents import write

    st = state(ctx)
    kinds = ("html", "pdf") if fmt == "both" else (fmt,)
    db = None if name == "public-notice" else st.db()  # the public notice needs no database
    paths = write(name, st.config, db, st.data_dir, out or st.data_dir / "notice", kinds)  # type: ignore[arg-type]
    for path in paths:
        console.print(f"wrote {path}")


def notice(
    ctx: typer.Context,
    out: Path | None = typer.Option(None, "--out", help=OUT_HELP),
    fmt: Format = typer.Option("both", "--format", help="Which files to write."),
    audience: Literal["public", "workers"] = typer.Option(
        "public",
        "--for",
        help="public: the notice to post at the site (notice.html/.pdf); workers: the notice "
        "for workers' representatives, AI Act Art. 26(7) (notice-workers.html/.pdf).",
    ),
) -> None:
    """The notice to post at the site: who operates the cameras, where, what is recorded, face
    recognition, retention and how to make a request. Written from vigil.yaml, so it says what
    the system is set to do; rerun it after every change."""
    _write(ctx, "public-notice" if audience == "public" else "workers-notice", out, fmt)


def dpia(
    ctx: typer.Context,
    out: Path | None = typer.Option(None, "--out", help=OUT_HELP),
    fmt: Format = typer.Option("both", "--format", help="Which files to write."),
) -> None:
    """A draft data-protection impact assessment (HTML and PDF) from the live settings, the
    gallery counts and the measured accuracy; the parts a person must write are marked.
    Files: dpia.html, dpia.pdf."""
    _write(ctx, "dpia", out, fmt)


def records(
    ctx: typer.Context,
    out: Path | None = typer.Option(None, "--out", help=OUT_HELP),
    fmt: Format = typer.Option("both", "--format", help="Which files to write."),
) -> None:
    """The record of processing activities, GDPR Art. 30 (HTML and PDF), from the live
    settings, the gallery counts and the measured accuracy. Files: records.html, records.pdf."""
    _write(ctx, "records", out, fmt)
