"""`vigil audit verify|show|export|checkpoint|pubkey`: read and check the tamper-evident audit log.

`show --kind recognition` and `export --kind recognition` read the recognition log
(`privacy.recognition_report`): periods of live recognition and matches with their verifiers.

Nothing here (or anywhere in Vigil) edits or deletes an audit record. Reading the log is
itself recorded (`view_audit`, `audit_verify`), since it shows who looked at whom.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from vigil.cli.state import console, current_user, err_console, print_json, state
from vigil.cli.storage_cmd import parse_time
from vigil.errors import InputError, VigilError

app = typer.Typer(help="The tamper-evident audit log: verify, show, checkpoint.")

EXIT_BROKEN = 4  # `audit verify`: the chain or a checkpoint does not check out


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="audit")


def _audit(ctx: typer.Context):
    from vigil.privacy.audit import AuditLog

    return AuditLog.from_config(state(ctx).config)


def _note(ctx: typer.Context, action: str, details: dict[str, object]) -> None:
    """Record that the log was read; a read-only copy of the database is still verifiable."""
    st = state(ctx)
    try:
        _audit(ctx).record(
            st.db(), actor=current_user(), action=action, source="cli", details=details
        )
    except Exception as exc:
        err_console.print(f"[yellow]warning:[/] this {action} was not audited: {escape(str(exc))}")


@app.command()
def verify(
    ctx: typer.Context,
    pubkey: list[Path] | None = typer.Option(
        None,
        "--pubkey",
        help="Check signatures with this public key (a copy you kept), not the keys stored "
        "on this machine. Repeat it for the keys before and after a rotation.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Walk the whole chain; exit 4 and name the first broken, missing or reordered record,
    or a head a witness holds that the chain no longer reaches (its tail was cut)."""
    from vigil.privacy import witness
    from vigil.privacy.keys import VerifyKey

    st = state(ctx)
    key = [VerifyKey.load(p) for p in pubkey] if pubkey else None
    report = witness.verify(st.config, st.db(), key)
    if as_json:
        print_json(report.as_dict())
    else:
        span = f"{report.first_seq}..{report.last_seq}" if report.records else "none"
        if report.anchor:
            a = report.anchor
            console.print(
                f"starts after the anchor at record {a['seq']} (hash {a['hash'][:16]}...): "
                f"{a['records_removed']} record(s) up to {a['removed_to'][:19]} removed by "
                f"audit retention on {a['time'][:19]} UTC"
            )
        console.print(
            f"{report.records} record(s) ({span}), {report.checkpoints_ok} of "
            f"{report.checkpoints} checkpoint(s) valid, key {report.key_id or '(none)'}"
        )
        first = report.first_problem
        if first is not None:
            console.print(f"[bold red]first problem:[/] {escape(first.message)}")
        for p in report.problems:
            if p is not first:
                console.print(f"[red]problem:[/] {escape(p.message)}")
        _print_witnessed(report.witness)
        if report.ok:
            console.print(f"[green]chain intact[/]; head {report.last_hash[:16]}...")
        elif len(report.problems) > 1:
            console.print(f"{len(report.problems)} problem(s) in all")
    _note(ctx, "audit_verify", {"ok": report.ok, "records": report.records})
    if not report.ok:
        raise typer.Exit(EXIT_BROKEN)


def _print_witnessed(w: dict[str, Any] | None) -> None:
    """How far back a witness off this machine holds the chain (0065)."""
    if w is None:
        return
    for note in w["notes"]:
        console.print(f"[yellow]witness:[/] {escape(str(note))}")
    if w["seq"] is not None:
        signed = str(w["time"])[:19].replace("T", " ")
        console.print(
            f"witnessed up to record {w['seq']} (signed {signed} UTC) by "
            f"{escape(', '.join(w['by']))}; {w['unwitnessed']} record(s) after it not "
            "witnessed yet"
        )
    elif w["witnesses"]:
        console.print(f"witnesses {escape(', '.join(w['witnesses']))}: no head witnessed yet")
    else:
        console.print(
            "[yellow]not witnessed[/]: no witness configured (privacy.audit_witness_file, "
            "privacy.audit_witness_syslog or the hub); the tail after the last checkpoint "
            "could be cut unnoticed"
        )


def _person_ids(st, person: str) -> list[str]:
    """A person filter matches their id (as recorded) or, for older records, the literal."""
    from sqlalchemy import select

    from vigil.store.models import Person

    with st.db().session() as s:
        pid = s.scalar(select(Person.id).where(Person.name == person))
    return [person] if pid is None else [person, str(pid)]


@app.command()
def show(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", help="Only records by this user."),
    action: str | None = typer.Option(None, "--action", help="Only this action (e.g. export)."),
    person: str | None = typer.Option(None, "--person", help="Only about this person (name/id)."),
    camera: str | None = typer.Option(None, "--camera", help="Only about this camera."),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO 8601)."),
    until: str | None = typer.Option(None, "--until", help="Before this time (ISO 8601)."),
    limit: int = typer.Option(100, "--limit", min=1, help="Most records shown (newest first)."),
    kind: str = typer.Option(
        "records",
        "--kind",
        help="records: audit records; recognition: the recognition log (periods of live "
        "recognition, matches and who verified them; filtered by --camera, --since, --until).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """Audit records, newest first, filtered by user, action, person, camera and time."""
    from vigil.privacy.audit import Action
    from vigil.store.models import AuditRecord

    if _kind(kind) == RECOGNITION:
        if user or action:
            raise InputError("--user and --action do not apply to --kind recognition")
        _show_recognition(ctx, camera, person, since, until, limit, as_json)
        return
    if action is not None and action not in Action.__members__:
        raise InputError(
            f"unknown action {action!r}", hint="one of: " + ", ".join(Action.__members__)
        )
    st = state(ctx)
    records = _audit(ctx).query(
        st.db(),
        actor=user,
        action=action,
        person=_person_ids(st, person) if person else None,
        camera=camera,
        since=parse_time(since, "--since") if since else None,
        until=parse_time(until, "--until") if until else None,
        limit=limit,
    )
    filters = {
        k: v
        for k, v in dict(
            user=user, action=action, person=person, camera=camera, since=since, until=until
        ).items()
        if v
    }
    _note(ctx, "view_audit", {"filters": filters, "shown": len(records)})
    if as_json:
        rows = [{c.key: getattr(r, c.key) for c in AuditRecord.__table__.columns} for r in records]
        print_json([{**row, "time": row["time"].isoformat()} for row in rows])
        return
    table = Table("seq", "time (UTC)", "user", "action", "target", "camera", "person", "reason")
    for r in records:
        target = f"{r.target_kind}:{r.target_id}" if r.target_kind else ""
        table.add_row(
            str(r.seq),
            r.time.strftime("%Y-%m-%d %H:%M:%S"),
            escape(r.actor + (f" ({r.role})" if r.role else "")),
            r.action,
            escape(target),
            escape(r.camera or ""),
            escape(r.person or ""),
            escape(r.reason),
        )
    console.print(table)
    if not records:
        console.print("no audit records match")


RECOGNITION = "recognition"


def _kind(kind: str) -> str:
    if kind not in ("records", RECOGNITION):
        raise InputError(f"unknown --kind {kind!r}", hint="one of: records, recognition")
    return kind


def _show_recognition(
    ctx: typer.Context,
    camera: str | None,
    person: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    from vigil.privacy.recognition_report import recognition_report

    st = state(ctx)
    report = recognition_report(
        st.db(),
        camera=camera,
        since=parse_time(since, "--since") if since else None,
        until=parse_time(until, "--until") if until else None,
        person=_person_ids(st, person) if person else None,
        data_dir=st.data_dir,
        limit=limit,
    )
    filters = {
        k: v for k, v in dict(camera=camera, person=person, since=since, until=until).items() if v
    }
    _note(
        ctx,
        "view_audit",
        {
            "kind": RECOGNITION,
            "filters": filters,
            "periods": len(report.periods),
            "matches": len(report.matches),
        },
    )
    if as_json:
        print_json(report.as_dict())
        return
    # one line per period and match: they hold too much for a table's columns
    console.print(f"[bold]Periods of live recognition[/] ({len(report.periods)})")
    for p in report.periods:
        lists = "".join(f"; {w['name']}: {w['action']}" for w in p.watchlists)
        console.print(
            f"  #{p.id} {escape(p.camera)} {p.start[:19]} -> "
            f"{(p.end or 'running')[:19]} ({p.ended_by or 'running'}); model {escape(p.model)}, "
            f"threshold {p.threshold:.3f}; gallery {p.gallery_hash[:16]}... ({p.templates} "
            f"template(s), {p.people} people{escape(lists)})",
            soft_wrap=True,
        )
    console.print(f"[bold]Matches[/] ({len(report.matches)})")
    for m in report.matches:
        who = ", ".join(f"{v.actor}: {v.verdict}" for v in m.verified_by) or "nobody"
        score = f"{m.score:.3f}" if m.score is not None else "?"
        threshold = f"{m.threshold:.3f}" if m.threshold is not None else "?"
        console.print(
            f"  seq {m.seq} {m.time[:19]} {escape(m.camera or '')}: "
            f"{escape(m.person or f'person #{m.person_id}')}, score {score} (threshold "
            f"{threshold}, period {m.period}); event {m.event}, snapshot {m.snapshot_state}; "
            f"verified by {escape(who)}",
            soft_wrap=True,
        )


@app.command()
def export(
    ctx: typer.Context,
    kind: str = typer.Option(..., "--kind", help="What to export: recognition (the log)."),
    since: str = typer.Option(..., "--since", help="From this time (ISO 8601)."),
    until: str = typer.Option(..., "--until", help="Before this time (ISO 8601)."),
    out: Path = typer.Option(..., "--out", "-o", help="A folder, or the .json file to write."),
    reason: str = typer.Option(
        ..., "--reason", "-r", help="Why, e.g. 'request of the supervisory authority, ref. 12'."
    ),
    camera: str | None = typer.Option(None, "--camera", help="Only this camera."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Write the recognition log of a time range as a JSON document signed with the site key
    (check it with `vigil export verify FILE [--pubkey KEY]`); the export is audited."""
    from vigil.privacy.recognition_report import export_recognition_log

    if _kind(kind) != RECOGNITION:
        raise InputError("only --kind recognition can be exported", hint="--kind recognition")
    st = state(ctx)
    doc, manifest = export_recognition_log(
        st.db(),
        _audit(ctx),
        data_dir=st.data_dir,
        out=out,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
        actor=current_user(),
        reason=reason,
        camera=camera,
    )
    if as_json:
        print_json({"document": str(doc), "manifest": str(manifest)})
    else:
        console.print(f"wrote {doc}, signed: {manifest} (check with: vigil export verify {doc})")


@app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Sign the newest record now with the site key (also done every N records)."""
    st = state(ctx)
    cp = _audit(ctx).checkpoint(st.db())
    if cp is None:
        raise VigilError("the audit log is empty: nothing to checkpoint")
    console.print(
        f"checkpoint at record {cp.seq}: hash {cp.hash}, signed by key {cp.key_id} "
        f"at {cp.time:%Y-%m-%d %H:%M:%S} UTC"
    )


@app.command()
def pubkey(
    ctx: typer.Context,
    out: Path | None = typer.Option(None, "--out", help="Write the PEM here instead."),
) -> None:
    """The site's public key (PEM): keep a copy off this machine to check checkpoints later."""
    from vigil.privacy.keys import configure, load_or_create, public_pem

    st = state(ctx)
    configure(st.data_dir, st.config.privacy.signing_key_passphrase_file)
    key = load_or_create(st.data_dir)
    pem = public_pem(key.public)
    if out is None:
        typer.echo(pem, nl=False)
        err_console.print(f"key id {key.key_id}")
        return
    try:
        out.write_text(pem, encoding="utf-8")
    except OSError as exc:
        raise VigilError(f"cannot write {out}: {exc.strerror}") from exc
    console.print(f"wrote {out} (key id {key.key_id})")
