"""`vigil privacy status|retention|redact|verify|sar|object|objections`: retention, redaction,
access requests, objections to recognition."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from vigil.cli.camera_cmd import verify_export
from vigil.cli.state import console, current_user, print_json, state

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vigil.faces.objections import RecordedObjection

app = typer.Typer(
    help="Privacy: retention that deletes, redaction, signed exports, access requests."
)


key_app = typer.Typer(help="The site signing key: status, encrypt at rest, rotate.")
app.add_typer(key_app, name="key")


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="privacy")


@app.command()
def status(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Retention limits, the last retention pass, and enrolled templates due for review."""
    from datetime import UTC, datetime

    from vigil.privacy.data_retention import audit_past_retention, read_report, templates_due_review

    st = state(ctx)
    p = st.config.privacy
    now = datetime.now(UTC)
    due = templates_due_review(st.db(), now)
    info: dict[str, Any] = {
        "limits_days": {
            "snapshots": p.snapshot_retention_days,
            "unknown_faces": p.unknown_face_retention_days,  # None: none kept
            "audit": p.audit_retention_days,
            "footage": {c.name: c.retention_days for c in st.config.cameras},
        },
        "last_run": read_report(st.data_dir),
        "templates_due_review": [d.__dict__ for d in due],
        "audit_records_past_retention": audit_past_retention(st.db(), st.config, now),
        "signing_key": _key_info(ctx),
    }
    if as_json:
        print_json(info)
        return
    console.print(
        f"retention: snapshots {p.snapshot_retention_days:g} d, unknown faces "
        + (f"{p.unknown_face_days:g} d" if p.keeps_unknown_faces else "none kept")
        + f", audit {p.audit_retention_days:g} d (deleted up "
        "to a signed checkpoint), "
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
            "retention[/]; the next retention pass deletes them up to the newest signed "
            "checkpoint among them"
        )
    _print_key_info(info["signing_key"])


def _key_info(ctx: typer.Context) -> dict:
    """The signing key's state at rest, for `status` and `key status`."""
    from vigil.privacy import keys

    st = state(ctx)
    keys.configure(st.data_dir, st.config.privacy.signing_key_passphrase_file)
    encrypted = keys.is_encrypted(st.data_dir)
    source = keys.passphrase_source(st.data_dir)
    current = keys.load_public(st.data_dir) if encrypted is not None else None
    warning = None
    if encrypted is False:
        warning = (
            "the site signing key is stored unencrypted: set "
            "privacy.signing_key_passphrase_file (or "
            f"{keys.PASSPHRASE_ENV}) and run `vigil privacy key encrypt`"
        )
    elif encrypted and source is None:
        warning = "the site signing key is encrypted but no passphrase is configured: "
        warning += "nothing can be signed (audit checkpoints, export manifests)"
    return {
        "path": str(keys.key_dir(st.data_dir) / keys.PRIVATE_NAME),
        "exists": encrypted is not None,
        "encrypted": bool(encrypted),
        "passphrase_from": source,
        "key_id": current.key_id if current else None,
        "retired": [
            {
                "key_id": e.key.key_id,
                "valid_from": e.valid_from.isoformat() if e.valid_from else None,
                "valid_until": e.valid_until.isoformat() if e.valid_until else None,
            }
            for e in keys.retired(st.data_dir)
        ],
        "warning": warning,
    }


def _print_key_info(info: dict) -> None:
    if not info["exists"]:
        console.print("signing key: not created yet (made at the first checkpoint or export)")
    else:
        state_ = "encrypted" if info["encrypted"] else "NOT encrypted"
        source = f", passphrase from {info['passphrase_from']}" if info["passphrase_from"] else ""
        console.print(f"signing key {info['key_id']}: {state_} at rest{escape(source)}")
        for r in info["retired"]:
            console.print(f"  retired key {r['key_id']}: signed until {r['valid_until']}")
    if info["warning"]:
        console.print(f"[yellow]warning:[/] {escape(info['warning'])}")


@key_app.command("status")
def key_status(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Whether the signing key is encrypted at rest, where its passphrase comes from, old keys."""
    info = _key_info(ctx)
    if as_json:
        print_json(info)
    else:
        _print_key_info(info)


@key_app.command("encrypt")
def key_encrypt(
    ctx: typer.Context,
    current_passphrase_file: Path | None = typer.Option(
        None,
        "--current-passphrase-file",
        help="The passphrase that unlocks the key now, when it is already encrypted and the "
        "configured passphrase is the new one.",
    ),
) -> None:
    """Encrypt the signing key with the configured passphrase (or re-encrypt it: a new one)."""
    from vigil.errors import InputError
    from vigil.privacy import keys
    from vigil.privacy.audit import Action

    st = state(ctx)
    keys.configure(st.data_dir, st.config.privacy.signing_key_passphrase_file)
    secret = keys.passphrase(st.data_dir)
    if secret is None:
        raise InputError(
            "no passphrase configured to encrypt the signing key with",
            hint=f"set privacy.signing_key_passphrase_file in vigil.yaml or {keys.PASSPHRASE_ENV}",
        )
    current = (
        keys.read_passphrase_file(current_passphrase_file) if current_passphrase_file else None
    )
    was = keys.is_encrypted(st.data_dir)
    if was is None:
        keys.load_or_create(st.data_dir)  # a new key is created encrypted
    key = keys.encrypt(st.data_dir, secret, current_secret=current)
    st.audit(
        Action.change_config,
        target=("signing_key", key.key_id),
        details={"encrypted": True, "was_encrypted": bool(was)},
    )
    console.print(
        f"signing key {key.key_id} is encrypted at rest (passphrase from "
        f"{escape(keys.passphrase_source(st.data_dir) or '?')})"
    )


@key_app.command("rotate")
def key_rotate(ctx: typer.Context) -> None:
    """Replace the signing key; the old public key is kept so older signatures still verify."""
    from vigil.privacy import keys
    from vigil.privacy.audit import Action

    st = state(ctx)
    log = st.audit_log
    log.checkpoint(st.db())  # the chain so far is signed by the key that is going away
    old, new = keys.rotate(st.data_dir)
    st.audit(
        Action.rotate_key,
        target=("signing_key", new.key_id),
        details={"old_key_id": old.key_id, "new_key_id": new.key_id},
    )
    cp = log.checkpoint(st.db())
    console.print(
        f"new signing key {new.key_id} (old key {old.key_id} kept as a public key for "
        f"signatures made before now); checkpoint at record {cp.seq if cp else '-'}"
    )
    console.print("keep a copy of the new public key off this machine: `vigil audit pubkey`")


@app.command()
def retention(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Run the privacy retention pass now (the node runs it on start and hourly)."""
    from vigil.privacy.data_retention import run_privacy_retention

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
    footage: dict | None = None,
) -> dict:
    """Redact `clip` into `output`, sign a manifest; returns a summary."""
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
        footage=footage,
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


# One implementation, two names: `vigil privacy verify` = `vigil export verify`.
app.command("verify")(verify_export)


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
        "objections": [o.uid for o in result.objections],
    }
    if as_json:
        print_json(info)
        return
    console.print(
        f"wrote {result.archive}: {result.events} event(s), {result.snapshots} snapshot(s)"
        + (f"; enrolled as {escape(result.person)}" if result.person else "; not enrolled")
        + f"; manifest {result.manifest}"
    )
    if result.objections:
        console.print(f"{len(result.objections)} objection(s) to recognition cover this face")


@app.command("object")
def object_(
    ctx: typer.Context,
    photo: Path = typer.Option(..., "--photo", "-p", exists=True, dir_okay=False),
    reason: str = typer.Option(
        ..., "--reason", "-r", help="How and why the person objected (required, audited)."
    ),
    reference: str = typer.Option(
        "", "--reference", help="A reference the person can quote later (no name needed)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Record an objection to recognition from the person's photo: their face is never
    identified again, here or (through the hub) at any site. Only its template is kept."""
    from vigil.faces.gallery import check_photos
    from vigil.faces.objections import record_objection
    from vigil.privacy.audit import Action

    st = state(ctx)
    face = check_photos(st.face_engine, [photo])[0].observation  # enrolment's photo checks
    assert face.embedding is not None

    def audit(s: Session, r: RecordedObjection) -> None:
        st.audit_log.record(
            s,
            actor=current_user(),
            action=Action.objection_recorded,
            source="cli",
            reason=r.objection.reason,
            target=("objection", r.objection.uid),
            details=r.audit_details(),
        )

    r = record_objection(
        st.db(),
        face.embedding,
        model=st.face_engine.model_name,
        match_threshold=st.calibration().threshold,
        reason=reason,
        recorded_by=current_user(),
        reference=reference,
        audit=audit,
    )
    info: dict[str, Any] = {"objection": r.objection.uid, "reference": r.objection.reference}
    info |= {"unknown_faces_deleted": r.unknown_deleted, "enrolled_withheld": r.enrolled}
    if as_json:
        print_json(info)
        return
    console.print(
        f"objection {r.objection.uid} recorded: this face is no longer identified; "
        f"{r.unknown_deleted} unknown-face template(s) of it deleted"
    )
    for name in r.enrolled:
        console.print(
            f"[yellow]{escape(name)} is enrolled and matches:[/] no longer identified; "
            f"remove them with `vigil faces withdraw {escape(name)} --reason ...`"
        )


@app.command()
def objections(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Objections to recognition kept here (recorded here or at another site via the hub)."""
    from vigil.faces.objections import list_objections

    rows = list_objections(state(ctx).db())
    if as_json:
        print_json([{**o.__dict__, "recorded_at": o.recorded_at.isoformat()} for o in rows])
        return
    if not rows:
        console.print("no objections to recognition are recorded")
    for o in rows:
        console.print(
            f"{o.uid}  {o.recorded_at:%Y-%m-%d %H:%M}  by {escape(o.recorded_by)}"
            + (f" at {o.origin_site}" if o.origin_site else "")
            + (f"  ref {escape(o.reference)}" if o.reference else "")
            + f"  ({escape(o.reason)})"
        )
