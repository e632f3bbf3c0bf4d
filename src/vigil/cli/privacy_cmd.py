"""`vigil privacy status|retention|redact|verify|sar`: retention, redaction, access requests."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from vigil.cli.state import console, current_user, print_json, state

app = typer.Typer(
    help="Privacy: retention that deletes, redaction, signed exports, access requests."
)

EXIT_BAD_MANIFEST = 4


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="privacy")


@app.command()
def status(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Retention limits, the last retention pass, and enrolled templates due for review."""
    from datetime import UTC, datetime

    from vigil.privacy.retention import audit_past_retention, read_report, templates_due_review

    st = state(ctx)
    p = st.config.privacy
    now = datetime.now(UTC)
    due = templates_due_review(st.db(), now)
    info = {
        "limits_days": {
            "snapshots": p.snapshot_retention_days,
            "unknown_faces": p.unknown_face_retention_days,
            "audit": p.audit_retention_days,
            "footage": {c.name: c.retention_days for c in st.config.cameras},
        },
        "last_run": read_report(st.data_dir),
        "templates_due_review": [d.__dict__ for d in due],
        "audit_records_past_retention": audit_past_retention(st.db(), st.config, now),
    }
    if as_json:
        print_json(info)
        return
    console.print(
        f"retention: snapshots {p.snapshot_retention_days:g} d, unknown faces "
        f"{p.unknown_face_retention_days:g} d, audit {p.audit_retention_days:g} d (not deleted), "
        "footage per camera: "
        + (", ".join(f"{c.name} {c.retention_days:g} d" for c in st.config.cameras) or "-")
    )
    last = info["last_run"]
    console.print(
        "last pass: "
        + (
            f"{last['ran_at']}: {last['events_deleted']} event(s), "
            f"{last['snapshot_files_deleted']} snapshot file(s), "
            f"{last['unknown_faces_deleted']} unknown-face template(s) deleted"
            if last
            else "never"
        )
    )
    if due:
        console.print(f"[yellow]{len(due)} enrolled template(s) past their review date:[/]")
        for d in due:
            console.print(f"  {escape(d.person)} (template {d.template_id}), due {d.review_at}")
    else:
        console.print("no enrolled template is past its review date")
    if info["audit_records_past_retention"]:
        console.print(
            f"[yellow]{info['audit_records_past_retention']} audit record(s) are past the audit "
            "retention[/]; they are kept (append-only; truncation needs a signed checkpoint)"
        )


@app.command()
def retention(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Run the privacy retention pass now (the node runs it on start and hourly)."""
    from vigil.privacy.retention import run_privacy_retention

    st = state(ctx)
    r = run_privacy_retention(st.db(), st.config, actor=current_user(), source="cli")
    if as_json:
        print_json(r.as_dict())
        return
    for k, v in r.counts().items():
        console.print(f"{k.replace('_', ' ')}: {v}")
    if r.audit_anchor_seq is not None:
        console.print(
            f"audit log truncated up to record {r.audit_anchor_seq} (signed anchor); "
            "`vigil audit verify` starts there"
        )
    if r.audit_note:
        console.print(f"[yellow]{escape(r.audit_note)}[/]")
    for e in r.errors:
        console.print(f"[red]error:[/] {escape(e)}")


def _masks(ctx: typer.Context, camera: str | None) -> list:
    if camera is None:
        return []
    for c in state(ctx).config.cameras:
        if c.name == camera:
            return [list(map(tuple, p)) for p in c.privacy_masks]
    from vigil.errors import NotFoundError

    raise NotFoundError(f"no camera named {camera!r} in the configuration")


def redact_file(
    ctx: typer.Context,
    clip: Path,
    output: Path,
    *,
    subject: str | None,
    reason: str,
    camera: str | None,
    every: int,
    details: dict | None = None,
) -> dict:
    """Redact `clip` into `output`, sign a manifest; returns a summary (used by `export`)."""
    from vigil.privacy.manifest import write_manifest
    from vigil.privacy.redaction import redact_clip, subject_from_gallery

    st = state(ctx)
    engine = st.face_engine
    subj = None
    if subject:
        subj = subject_from_gallery(st.db(), engine.model_name, subject, st.calibration().threshold)
    r = redact_clip(
        clip, output, engine, subject=subj, masks=_masks(ctx, camera), detect_every=every
    )
    m = write_manifest(
        st.data_dir,
        [output],
        kind="redacted_clip",
        actor=current_user(),
        reason=reason,
        camera=camera,
        details={
            **(details or {}),
            "subject": subject,
            "faces_redacted": r.faces_redacted,
            "detect_every": every,
        },
    )
    return {
        "path": str(output),
        "manifest": str(m),
        "frames": r.frames,
        "faces_redacted": r.faces_redacted,
        "faces_kept": r.faces_kept,
        "speed_x_realtime": round(r.speed, 2),
    }


@app.command()
def redact(
    ctx: typer.Context,
    clip: Path = typer.Argument(..., exists=True, dir_okay=False, help="An exported clip."),
    output: Path = typer.Option(..., "--output", "-o", help="The redacted MP4 to write."),
    subject: str | None = typer.Option(
        None, "--subject", help="Enrolled person whose face stays visible (default: nobody's)."
    ),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (recorded in the audit log)."),
    camera: str | None = typer.Option(
        None, "--camera", help="Black out this camera's privacy masks too."
    ),
    every: int = typer.Option(1, "--every", min=1, help="Detect faces every N frames."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Pixelate every face but the subject's (and the camera's masks) into a new, signed file."""
    from vigil.privacy.audit import Action

    st = state(ctx)
    st.audit(
        Action.export,
        reason=reason,
        camera=camera,
        target=("redacted_clip", str(output)),
        details={"source": str(clip), "subject": subject, "redact": True},
    )
    info = redact_file(
        ctx, clip, output, subject=subject, reason=reason, camera=camera, every=every
    )
    if as_json:
        print_json(info)
    else:
        console.print(
            f"wrote {info['path']} ({info['frames']} frames, {info['faces_redacted']} face "
            f"box(es) pixelated, {info['speed_x_realtime']}x real time); manifest "
            f"{info['manifest']}"
        )


@app.command()
def verify(
    ctx: typer.Context,
    manifest: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .manifest.json."),
    pubkey: Path | None = typer.Option(
        None, "--pubkey", help="Check with this public key instead of this site's key."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check an export manifest's signature and every file's SHA-256 (exit 4 if not intact)."""
    from vigil.privacy.keys import VerifyKey
    from vigil.privacy.manifest import verify_manifest

    st = state(ctx)
    key = VerifyKey.load(pubkey) if pubkey else None
    check = verify_manifest(manifest, data_dir=st.data_dir, key=key)
    if as_json:
        print_json(check.as_dict())
    elif check.ok:
        console.print(
            f"[green]intact[/]: signature valid (key {check.key_id}), "
            f"{check.files_ok} file(s) match"
        )
    else:
        for p in check.problems:
            console.print(f"[red]problem:[/] {escape(p)}")
    if not check.ok:
        raise typer.Exit(EXIT_BAD_MANIFEST)


@app.command()
def sar(
    ctx: typer.Context,
    photo: Path = typer.Argument(..., exists=True, dir_okay=False, help="The person's photo."),
    reason: str = typer.Option(..., "--reason", "-r", help="The request (recorded in the audit)."),
    output: Path = typer.Option(..., "--output", "-o", help="The .zip archive to write."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Subject-access request: every event and snapshot of the person, others pixelated."""
    from vigil.privacy.sar import subject_access
    from vigil.vision.image import load_image

    st = state(ctx)
    result = subject_access(
        st.db(),
        st.config,
        st.face_engine,
        load_image(photo),
        reason=reason,
        actor=current_user(),
        out=output,
    )
    info = {
        "archive": str(result.archive),
        "manifest": str(result.manifest),
        "enrolled_as": result.person,
        "events": result.events,
        "snapshots": result.snapshots,
        "unknown_face_sightings": result.sightings,
    }
    if as_json:
        print_json(info)
        return
    console.print(
        f"wrote {result.archive}: {result.events} event(s), {result.snapshots} snapshot(s)"
        + (f"; enrolled as {escape(result.person)}" if result.person else "; not enrolled")
        + f"; manifest {result.manifest}"
    )


def sign_export(
    ctx: typer.Context, result, reason: str, redact: bool, subject: str | None, every: int
) -> Path:  # type: ignore[no-untyped-def]
    """After `vigil export`: redact the clip in place when asked, then sign its manifest."""
    from vigil.privacy.manifest import write_manifest

    st = state(ctx)
    out = Path(result.path)
    span = {"from": result.start.isoformat(), "to": result.end.isoformat()}
    redact = redact or bool(subject)  # naming a subject asks for redaction
    if redact:
        plain = out.with_name(f".{out.name}.unredacted.mp4")
        out.replace(plain)
        try:
            redact_file(
                ctx,
                plain,
                out,
                subject=subject,
                reason=reason,
                camera=result.camera,
                every=every,
                details=span,
            )
        except BaseException:
            out.unlink(missing_ok=True)  # never leave the unredacted clip under the asked name
            raise
        finally:
            plain.unlink(missing_ok=True)
        return out.with_name(out.name + ".manifest.json")
    return write_manifest(
        st.data_dir,
        [out],
        kind="clip",
        actor=current_user(),
        reason=reason,
        camera=result.camera,
        start=result.start,
        end=result.end,
        details={"mode": result.mode, "frames": result.frames},
    )
