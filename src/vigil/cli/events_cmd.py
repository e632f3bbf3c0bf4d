"""`vigil events ...`: matches waiting for people to confirm them, and a verdict from the
command line (for sites without the web UI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from vigil.cli.state import console, current_user, print_json, state
from vigil.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vigil.store.models.events import Event

app = typer.Typer(
    help="Events: matches to verify (confirm or reject).", no_args_is_help=True
)


@app.command("pending")
def pending_cmd(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable.")
) -> None:
    """Matches waiting for confirmation, newest first."""
    from vigil.events.verification import pending

    events, total = pending(state(ctx).db())
    rows = [
        {
            "uid": e.uid,
            "camera": e.camera,
            "start": e.start.isoformat(timespec="seconds"),
            "person_id": e.person_id,
            "score": e.score,
            "required": e.confirmations_required,
            "snapshot": e.snapshot,
        }
        for e in events
    ]
    if as_json:
        print_json({"total": total, "events": rows})
        return
    t = Table("uid", "camera", "start", "person", "score", "needs")
    for r in rows:
        score = r["score"]
        t.add_row(
            str(r["uid"]),
            str(r["camera"]),
            str(r["start"]),
            str(r["person_id"]),
            "-" if score is None else f"{score:.3f}",
            str(r["required"]),
        )
    console.print(t)
    console.print(f"{total} match(es) to verify")


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="The event's uid (`vigil events pending`)."),
    confirm: bool = typer.Option(False, "--confirm", help="It is that person."),
    reject: bool = typer.Option(False, "--reject", help="It is not that person."),
    reason: str = typer.Option("", "--reason", help="What you checked (required, audited)."),
) -> None:
    """Confirm or reject a match; audited as `match_verify` under your login name."""
    from vigil.events.verification import verify
    from vigil.privacy.audit import Action

    if confirm == reject:
        raise InputError("say either --confirm or --reject")
    st = state(ctx)
    actor = current_user()
    verdict = "confirm" if confirm else "reject"

    def audit(session: Session, event: Event, person: int | None) -> None:
        st.audit_log.record(
            session,
            actor=actor,
            action=Action.match_verify,
            source="cli",
            reason=reason,
            target=("event", uid),
            camera=event.camera,
            person=person,
            details={"event": uid, "verdict": verdict, "person": person},
        )

    out = verify(st.db(), uid, actor=actor, verdict=verdict, reason=reason, audit=audit)
    console.print(
        f"event {uid}: {out.state.value} ({out.confirmations} of {out.required} confirmations)"
        + (f"; {out.released} notification(s) released" if out.released else "")
        + (f"; {out.cancelled} notification(s) cancelled" if out.cancelled else "")
    )
