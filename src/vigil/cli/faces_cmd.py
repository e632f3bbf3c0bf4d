"""`vigil faces ...`: detect, compare, enrol, identify, list and remove."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from vigil.cli.state import console, current_user, err_console, print_json, progress_bar, state
from vigil.errors import InputError
from vigil.store.enums import LegalBasis

if TYPE_CHECKING:
    import numpy as np

    from vigil.faces.engine import FaceObservation

# OpenCV, the face engine and the database are imported in the commands that use them, so
# `vigil faces --help` stays fast.

app = typer.Typer(help="Face detection, enrolment and recognition.", no_args_is_help=True)


def embedding(o: FaceObservation) -> np.ndarray:
    """The template of a face `analyze()` embedded (it does unless told `embed=False`)."""
    assert o.embedding is not None
    return o.embedding


JSON = typer.Option(False, "--json", help="Machine-readable output.")
REASON = typer.Option(
    ...,
    "--reason",
    "-r",
    help="Why you are searching (required: every face search is recorded with its reason).",
)


@app.command()
def detect(
    ctx: typer.Context,
    image: Path = typer.Argument(..., help="Image file."),
    draw: Path | None = typer.Option(None, "--draw", help="Write a copy with the faces drawn."),
    as_json: bool = JSON,
) -> None:
    """Find faces: boxes, landmarks, detector scores and quality."""
    import cv2

    from vigil.vision.draw import AMBER, GREEN, draw_face
    from vigil.vision.image import load_image

    engine = state(ctx).face_engine
    img = load_image(image)
    obs = engine.analyze(img, embed=False)
    if draw:
        canvas = img.copy()
        for i, o in enumerate(obs, 1):
            draw_face(canvas, o.face, f"{i}: {o.face.score:.2f}", GREEN if o.quality.ok else AMBER)
        if not cv2.imwrite(str(draw), canvas):
            raise InputError(
                f"cannot write {draw}", hint="use a .png or .jpg name in a folder you own"
            )
    if as_json:
        print_json(
            {
                "image": str(image),
                "size": [img.shape[1], img.shape[0]],
                "faces": [{**o.face.to_dict(), "quality": o.quality.to_dict()} for o in obs],
            }
        )
        return
    console.print(f"{image}: {len(obs)} face(s) in {img.shape[1]}x{img.shape[0]}")
    if obs:
        t = Table("#", "box x,y,w,h", "score", "size px", "quality", "notes")
        for i, o in enumerate(obs, 1):
            q = o.quality
            t.add_row(
                str(i),
                ",".join(f"{v:.0f}" for v in o.face.box),
                f"{o.face.score:.2f}",
                f"{q.size_px:.0f}",
                f"[green]{q.score:.2f}[/]" if q.ok else f"[yellow]{q.score:.2f}[/]",
                "; ".join(q.problems) or "good for enrolment",
            )
        console.print(t)
    if draw:
        console.print(f"drawn: {draw}")


@app.command()
def compare(
    ctx: typer.Context,
    a: Path = typer.Argument(..., help="First photo (one clear face)."),
    b: Path = typer.Argument(..., help="Second photo (one clear face)."),
    as_json: bool = JSON,
) -> None:
    """Are the faces in two photos the same person? Score, confidence and verdict."""
    from vigil.faces.calibration import confidence_text
    from vigil.vision.image import load_image

    st = state(ctx)
    engine, cal = st.face_engine, st.calibration()
    fa = engine.single_face(load_image(a), str(a))
    fb = engine.single_face(load_image(b), str(b))
    assert fa.embedding is not None and fb.embedding is not None
    score = float(fa.embedding @ fb.embedding)
    same = score >= cal.threshold
    result: dict[str, Any] = {
        "same_person": same,
        "score": round(score, 4),
        "confidence": round(cal.confidence(score), 4),
        "threshold": round(cal.threshold, 4),
        "calibration": cal.source,
        "quality_warnings": [
            f"{p}: {m}" for p, o in ((a, fa), (b, fb)) for m in o.quality.problems
        ],
    }
    if as_json:
        print_json(result)
        return
    verdict = "[green]same person[/]" if same else "[red]different people[/]"
    console.print(
        f"{verdict}: score {score:.3f} (threshold {cal.threshold:.3f}, {cal.source}), "
        f"confidence {confidence_text(cal.confidence(score))}"
    )
    for w in result["quality_warnings"]:
        console.print(f"[yellow]warning:[/] {w}")


def _legal_basis(value: str) -> LegalBasis:
    try:
        return LegalBasis(value)
    except ValueError as exc:
        choices = ", ".join(b.value for b in LegalBasis)
        raise typer.BadParameter(f"{value!r} is not one of: {choices}") from exc


LEGAL_BASIS = typer.Option(
    ...,
    "--legal-basis",
    "-l",
    help="Why enrolling this person is lawful: "
    + ", ".join(b.value for b in LegalBasis)
    + " (legitimate_interest, public_task and legal_obligation need --note).",
)
NOTE = typer.Option("", "--note", help="Written justification of the legal basis.")
REVIEW = typer.Option(
    365, "--review-days", min=1, help="Days until the enrolment must be reviewed."
)


@app.command()
def enroll(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The person's name."),
    images: list[Path] = typer.Argument(..., help="One or more photos of this person."),
    legal_basis: str = LEGAL_BASIS,
    note: str = NOTE,
    review_days: int = REVIEW,
    as_json: bool = JSON,
) -> None:
    """Enrol a person from photos. All photos must pass the quality gate, or nothing is stored."""
    from vigil.faces.gallery import check_photos
    from vigil.privacy.audit import Action

    st = state(ctx)
    basis = _legal_basis(legal_basis)
    photos = check_photos(st.face_engine, images)
    added = st.gallery().enroll(
        name,
        photos,
        legal_basis=basis,
        legal_basis_note=note,
        enrolled_by=current_user(),
        review_at=datetime.now(UTC) + timedelta(days=review_days),
        audit=st.audit_hook(Action.enroll, details={"legal_basis": basis.value}),
    )
    if as_json:
        print_json({"person": name, "templates_added": added})
    else:
        console.print(f"enrolled [bold]{name}[/]: {added} new template(s), legal basis {basis}")


@app.command("import")
def import_folder(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="A folder of NAME/*.jpg, one sub-folder a person."),
    legal_basis: str = LEGAL_BASIS,
    note: str = NOTE,
    review_days: int = REVIEW,
) -> None:
    """Enrol every person of a folder (each person all-or-nothing), with a progress bar."""
    from vigil.faces.evaluation import gallery_folder
    from vigil.faces.gallery import check_legal_basis, check_people
    from vigil.privacy.audit import Action

    st = state(ctx)
    basis = _legal_basis(legal_basis)
    check_legal_basis(basis, note)
    people = gallery_folder(folder)
    gallery, failed = st.gallery(), {}
    review = datetime.now(UTC) + timedelta(days=review_days)
    with progress_bar() as bar:
        task = bar.add_task("checking photos", total=None)
        checked = check_people(st.face_engine, people)
        bar.update(task, description="enrolling", completed=0, total=len(people))
        for name, photos in checked.items():
            try:
                if isinstance(photos, InputError):
                    raise photos
                gallery.enroll(
                    name,
                    photos,
                    legal_basis=basis,
                    legal_basis_note=note,
                    enrolled_by=current_user(),
                    review_at=review,
                    audit=st.audit_hook(Action.enroll, details={"legal_basis": basis.value}),
                )
            except InputError as exc:
                failed[name] = exc.message
            bar.advance(task)
    console.print(f"enrolled {len(people) - len(failed)} of {len(people)} people")
    for name, why in failed.items():
        console.print(f"[yellow]not enrolled {name}:[/] {why}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def identify(
    ctx: typer.Context,
    image: Path = typer.Argument(..., help="Image file; every face in it is identified."),
    reason: str = REASON,
    draw: Path | None = typer.Option(None, "--draw", help="Write a copy with names drawn."),
    as_json: bool = JSON,
) -> None:
    """Who is in this image? Each face: an enrolled person with score and confidence, or unknown."""
    import cv2

    from vigil.faces.calibration import confidence_text
    from vigil.privacy.audit import Action
    from vigil.vision.draw import GREEN, RED, draw_face
    from vigil.vision.image import load_image

    st = state(ctx)
    st.audit(Action.identify, reason=reason, target=("image", str(image)))  # refuses no reason
    img = load_image(image)
    obs = st.face_engine.analyze(img)
    matcher = st.gallery().matcher(st.calibration())
    if len(matcher.index) == 0:
        err_console.print("[yellow]warning:[/] the gallery is empty; every face is unknown")
    matches = matcher.identify([embedding(o) for o in obs], [o.face.short_side for o in obs])
    if draw:
        canvas = img.copy()
        for o, m in zip(obs, matches, strict=True):
            label = f"{m.name} {confidence_text(m.confidence)}" if m.known else "unknown"
            draw_face(canvas, o.face, label, GREEN if m.known else RED)
        if not cv2.imwrite(str(draw), canvas):
            raise InputError(f"cannot write {draw}")
    rows: list[dict[str, Any]] = [
        {
            "face": i,
            "box": [round(v) for v in o.face.box],
            **m.to_dict(),
            "quality": o.quality.score,
        }
        for i, (o, m) in enumerate(zip(obs, matches, strict=True), 1)
    ]
    if as_json:
        print_json({"image": str(image), "faces": rows})
        return
    console.print(f"{image}: {len(rows)} face(s)")
    if rows:
        t = Table("#", "box", "who", "score", "confidence", "face size band", "face quality")
        for r, m in zip(rows, matches, strict=True):
            t.add_row(
                str(r["face"]),
                ",".join(map(str, r["box"])),
                f"[green]{m.name}[/]" if m.known else "[dim]unknown[/]",
                f"{m.score:.3f}",
                confidence_text(m.confidence),
                f"{m.band} (threshold {m.threshold:.3f})",
                f"{r['quality']:.2f}",
            )
        console.print(t)


@app.command("list")
def list_people(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Enrolled people, with template counts and legal bases."""
    people = state(ctx).gallery().people()
    if as_json:
        print_json([p.__dict__ for p in people])
        return
    if not people:
        console.print("nobody is enrolled")
        return
    t = Table("name", "templates", "legal basis", "enrolled", "by")
    for p in people:
        t.add_row(
            p.name,
            str(p.templates),
            ", ".join(p.legal_bases),
            f"{p.enrolled_at:%Y-%m-%d}",
            p.enrolled_by,
        )
    console.print(t)


@app.command()
def remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The person to remove."),
    reason: str = typer.Option(
        ...,
        "--reason",
        "-r",
        help="Why (required: recorded in the removal's audit record).",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a person and every one of their templates (with a stated reason, audited)."""
    from vigil.privacy.audit import Action, ReasonRequired

    reason = reason.strip()
    if len(reason) < 3:
        raise ReasonRequired(
            "removing a person needs a stated reason (at least 3 characters)",
            hint='add --reason "..."',
        )
    if not yes and not typer.confirm(f"Delete {name} and all their face templates?"):
        raise typer.Exit(1)
    st = state(ctx)
    n = st.gallery().remove(name, audit=st.audit_hook(Action.remove_person, reason=reason))
    console.print(f"removed {name} and {n} template(s)")


@app.command()
def withdraw(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The enrolled person withdrawing their consent."),
    reason: str = typer.Option(
        ..., "--reason", "-r", help="How the person withdrew consent (required, audited)."
    ),
) -> None:
    """Withdrawal of consent: remove the person and every template at once (no confirmation
    asked: the person's request is the confirmation), audited as `consent_withdrawn`."""
    from vigil.privacy.audit import Action, ReasonRequired

    reason = reason.strip()
    if len(reason) < 3:
        raise ReasonRequired(
            "a withdrawal of consent needs a stated reason (at least 3 characters)",
            hint='add --reason "..."',
        )
    st = state(ctx)
    n = st.gallery().remove(name, audit=st.audit_hook(Action.consent_withdrawn, reason=reason))
    console.print(f"consent withdrawn: removed {name} and {n} template(s)")
