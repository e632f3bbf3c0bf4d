"""`vigil retention run|status|scrub` and `vigil segments lock|unlock|locked|scrub|problems|ack`.

Retention normally runs beside the recorders (`FootageRetention`); `retention run` runs one
pass by hand and `retention status` shows the last one, so anyone can see it is alive.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from vigil.cli.state import console, current_user, print_json, state
from vigil.errors import InputError, NotFoundError, VigilError

if TYPE_CHECKING:
    from vigil.camera.footage_retention import RetentionReport

retention_app = typer.Typer(help="Footage retention: run a pass, show the last one.")
segments_app = typer.Typer(
    help="Recorded segments: evidence locks, checksum scrub, lost footage.", no_args_is_help=True
)

STALE_FACTOR = 3  # a last run older than this many intervals means retention is not running


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
    app.add_typer(segments_app, name="segments")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _when(text: str | None) -> str:
    if not text:
        return "-"
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


_DURATION = re.compile(r"^\+?(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, what: str, *, relative_to: datetime | None = None) -> datetime:
    """An ISO 8601 time (no offset = this machine's local time) or, when `relative_to` is
    given, a duration after it such as `30d`, `12h`, `90m`."""
    if relative_to is not None and (m := _DURATION.match(text.strip().lower())):
        return relative_to + timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        hint = "e.g. 2026-11-28T14:05:00+01:00" + (" or 30d" if relative_to else "")
        raise InputError(f"{what} {text!r} is not an ISO time", hint=hint) from exc
    if t.tzinfo is None:
        t = t.astimezone()
    return t.astimezone(UTC)


def _show_report(report: RetentionReport, interval_s: float) -> None:
    ran = datetime.fromisoformat(report.ran_at)
    age = (datetime.now(UTC) - ran).total_seconds()
    stale = age > STALE_FACTOR * interval_s
    colour = "red" if stale else "green"
    console.print(
        f"last run [{colour}]{_when(report.ran_at)} UTC ({age / 60:.0f} min ago)[/]"
        f" in {report.duration_s:.2f} s: deleted {report.deleted_files} file(s), "
        f"{_size(report.deleted_bytes)} (age {report.deleted_by_reason.get('age', 0)}, "
        f"quota {report.deleted_by_reason.get('quota', 0)}, "
        f"free space {report.deleted_by_reason.get('min_free', 0)}); "
        f"{report.missing_files} missing file(s) dropped from the index; "
        f"{report.locks_expired} expired lock(s) released"
    )
    if stale:
        console.print(
            f"[red]retention has not run for {age / 3600:.1f} h[/] (interval "
            f"{interval_s:g} s): is the recorder running?"
        )
    quota = f" of {_size(report.quota_bytes)} quota" if report.quota_bytes else " (no quota)"
    console.print(
        f"recordings use {_size(report.used_bytes)}{quota}; disk free "
        f"{_size(report.free_bytes)} of {_size(report.disk_total_bytes)} "
        f"(keep at least {_size(report.min_free_bytes)})"
    )
    space = report.space
    if space:  # who uses the recordings filesystem
        kinds = sorted((space.get("vigil_other") or {}).items(), key=lambda kv: -kv[1])
        detail = ", ".join(f"{k} {_size(v)}" for k, v in kinds if v)
        console.print(
            f"disk use: Vigil's footage {_size(space.get('footage_bytes'))}; Vigil's other "
            f"data {_size(space.get('vigil_other_bytes'))}"
            + (f" ({detail})" if detail else "")
            + f"; other files (not Vigil's) {_size(space.get('other_bytes'))}"
        )
    for limit, held in report.held_back.items():
        console.print(
            f"[yellow]nothing deleted for {limit}:[/] {_size(held['needed_bytes'])} needed, "
            f"only {_size(held['deletable_bytes'])} may be deleted"
        )
    if report.alarm:
        console.print(f"[bold red]ALARM:[/] {report.alarm}")
    for problem in report.errors[:10]:
        console.print(f"[yellow]problem:[/] {problem}")
    for rel in report.missing[:10]:
        console.print(f"[yellow]missing file:[/] {rel} (row removed)")
    table = Table(
        "camera", "files", "size", "oldest kept (UTC)", "newest (UTC)", "keep", "locked", "deleted"
    )
    for c in report.cameras:
        name = c.camera if c.configured else f"{c.camera} [dim](not in vigil.yaml)[/]"
        table.add_row(
            name,
            str(c.files),
            _size(c.bytes),
            _when(c.oldest),
            _when(c.newest),
            f"{c.retention_days:g} d",
            f"{c.locked_files} ({_size(c.locked_bytes)})" if c.locked_files else "-",
            f"{c.deleted_files} ({_size(c.deleted_bytes)})" if c.deleted_files else "-",
        )
    console.print(table)


@retention_app.command("run")
def retention_run(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run one retention pass now (age, quota, free space) and show what it did."""
    from vigil.camera.footage_retention import run_retention
    from vigil.privacy.audit import Action

    st = state(ctx)
    cfg = st.config
    report = run_retention(st.db(), st.data_dir, cfg.cameras, cfg.recording)
    st.audit(Action.retention_run, details=report.summary())
    if as_json:
        print_json(report.as_dict())
    else:
        _show_report(report, cfg.recording.retention_interval_s)
    if report.alarm:
        raise typer.Exit(4)


@retention_app.command("status")
def retention_status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """The last retention pass: when, what it removed, oldest footage and disk use per camera."""
    from vigil.camera.footage_retention import disk_state, read_report, storage_status

    st = state(ctx)
    report = read_report(st.data_dir)
    disk = disk_state(st.data_dir, st.config.recording)
    if as_json:
        from vigil.camera.checksum import list_problems

        lost = list_problems(st.db())
        print_json(
            {
                "report": report.as_dict() if report else None,
                "disk_ok": disk.ok,
                "disk_free_bytes": disk.free_bytes,
                "disk_problem": disk.reason,
                "storage": storage_status(st.data_dir, st.config.recording),
                "lost_footage": [p.as_dict() for p in lost],
            }
        )
        return
    if report is None:
        console.print(
            "[yellow]retention has never run here[/] (it runs with the recorder; "
            "`vigil retention run` runs it now)"
        )
    else:
        _show_report(report, st.config.recording.retention_interval_s)
    if not disk.ok:
        console.print(f"[bold red]recording must stop:[/] {disk.reason}")
    _show_lost(ctx)


def _show_lost(ctx: typer.Context) -> None:
    """Footage lost since it was recorded, until acknowledged (after each report)."""
    from vigil.camera.checksum import list_problems

    lost = list_problems(state(ctx).db())
    if not lost:
        console.print("lost footage: none (no segment missing or damaged)")
        return
    missing = sum(p.kind == "missing" for p in lost)
    console.print(
        f"[bold red]lost footage:[/] {missing} missing, {len(lost) - missing} damaged "
        "segment(s), not yet acknowledged"
    )
    for p in lost[:10]:
        console.print(
            f"  [red]{p.kind}:[/] {p.camera} {_when(p.start.isoformat())} .. "
            f"{_when(p.end.isoformat())} UTC {p.path} ({p.detail}; found by {p.found_by})"
        )
    console.print("  list: `vigil segments problems`; acknowledge: `vigil segments ack CAMERA`")


def _camera_known(ctx: typer.Context, camera: str) -> None:
    from sqlalchemy import select

    from vigil.store.models.camera import Segment

    st = state(ctx)
    if any(c.name == camera for c in st.config.cameras):
        return
    with st.db().session() as s:
        if s.scalar(select(Segment.id).where(Segment.camera == camera).limit(1)) is None:
            raise NotFoundError(
                f"no camera named {camera!r} in vigil.yaml or the index",
                hint="see `vigil cameras list`",
            )


@segments_app.command("lock")
def segments_lock(
    ctx: typer.Context,
    camera: str = typer.Argument(..., help="Camera name."),
    start: str = typer.Option(..., "--from", help="Start, ISO 8601 (no offset = local time)."),
    end: str = typer.Option(..., "--to", help="End, ISO 8601."),
    reason: str = typer.Option(..., "--reason", help="Why this footage is held (case, ticket)."),
    until: str = typer.Option(
        "30d", "--until", help="When the hold ends: ISO 8601 or a duration from now (30d, 12h)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Hold footage as evidence: retention never deletes it until the lock ends.

    Locking the same footage again renews the lock (a later --until extends it)."""
    from vigil.camera.footage_retention import lock_segments
    from vigil.privacy.audit import Action

    st = state(ctx)
    t0, t1 = parse_time(start, "--from"), parse_time(end, "--to")
    if t1 <= t0:
        raise InputError("--to must be after --from")
    hold = parse_time(until, "--until", relative_to=datetime.now(UTC))
    if hold <= datetime.now(UTC):
        raise InputError("--until must be in the future")
    if not reason.strip():
        raise InputError("--reason must say why the footage is held")
    _camera_known(ctx, camera)
    owner = current_user()
    n = lock_segments(st.db(), camera, t0, t1, until=hold, reason=reason, owner=owner)
    st.audit(
        Action.lock_footage,
        reason=reason,
        camera=camera,
        details={
            "from": t0.isoformat(),
            "to": t1.isoformat(),
            "until": hold.isoformat(),
            "segments": n,
        },
    )
    if as_json:
        print_json({"camera": camera, "locked": n, "until": hold.isoformat(), "owner": owner})
        return
    if n == 0:
        raise VigilError(
            f"no footage of {camera} between {t0:%Y-%m-%d %H:%M:%S} and "
            f"{t1:%Y-%m-%d %H:%M:%S} UTC to lock"
        )
    console.print(f"locked {n} segment(s) of {camera} until {hold:%Y-%m-%d %H:%M} UTC ({owner})")


@segments_app.command("unlock")
def segments_unlock(
    ctx: typer.Context,
    camera: str = typer.Argument(..., help="Camera name."),
    start: str = typer.Option(..., "--from", help="Start, ISO 8601."),
    end: str = typer.Option(..., "--to", help="End, ISO 8601."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Release evidence locks; retention may then delete that footage."""
    from vigil.camera.footage_retention import unlock_segments
    from vigil.privacy.audit import Action

    st = state(ctx)
    t0, t1 = parse_time(start, "--from"), parse_time(end, "--to")
    _camera_known(ctx, camera)
    n = unlock_segments(st.db(), camera, t0, t1)
    st.audit(
        Action.lock_footage,
        camera=camera,
        details={"from": t0.isoformat(), "to": t1.isoformat(), "released": True, "segments": n},
    )
    if as_json:
        print_json({"camera": camera, "unlocked": n})
        return
    console.print(f"unlocked {n} segment(s) of {camera}")


@segments_app.command("locked")
def segments_locked(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Footage held as evidence now: camera, time range, until when, why, by whom."""
    from sqlalchemy import select

    from vigil.store.models.camera import Segment

    st = state(ctx)
    now = datetime.now(UTC)
    with st.db().session() as s:
        rows = s.scalars(
            select(Segment)
            .where(Segment.locked_until.is_not(None), Segment.locked_until > now)
            .order_by(Segment.camera, Segment.start)
        ).all()
    items: list[dict[str, Any]] = [
        {
            "camera": r.camera,
            "start": r.start.isoformat(),
            "end": r.end.isoformat(),
            "path": r.path,
            "size_bytes": r.size_bytes,
            "locked_until": r.locked_until.isoformat() if r.locked_until else None,
            "reason": r.lock_reason,
            "owner": r.lock_owner,
        }
        for r in rows
    ]
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("no footage is locked")
        return
    table = Table("camera", "from (UTC)", "to (UTC)", "until (UTC)", "reason", "by")
    for i in items:
        table.add_row(
            i["camera"],
            _when(i["start"]),
            _when(i["end"]),
            _when(i["locked_until"]),
            str(i["reason"]),
            str(i["owner"]),
        )
    console.print(table)


@segments_app.command("scrub")
def segments_scrub(
    ctx: typer.Context,
    camera: list[str] = typer.Option([], "--camera", help="Only this camera (repeatable)."),
    rate: int | None = typer.Option(
        None,
        "--rate",
        min=0,
        help="Bytes per second at most (default: recording.scrub_bytes_per_s; 0: full speed).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Re-read closed segments now and check each against the SHA-256 taken when it closed;
    a mismatch is recorded as damaged footage (shown in status until acknowledged)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from vigil.camera.scrub import scrub, total_bytes
    from vigil.privacy.audit import Action

    st = state(ctx)
    db = st.db()
    speed = st.config.recording.scrub_bytes_per_s if rate is None else rate
    cams = camera or None
    with Progress(
        TextColumn("[bold]scrub[/]"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=as_json or not console.is_terminal,
    ) as bar:
        task = bar.add_task("scrub", total=total_bytes(db, cams))
        report = scrub(
            db, st.data_dir, rate=speed, cameras=cams, on_bytes=lambda n: bar.advance(task, n)
        )
    st.audit(Action.retention_run, details={"scrub": True, **report.as_dict()})
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(
            f"scrub: {report.segments} segment(s), {_size(report.bytes)} in {report.seconds:.1f} s:"
            f" {report.verified} intact, {report.hashed} without a checksum (taken now), "
            f"{report.damaged_count} newly damaged, {report.skipped} skipped (file gone)"
        )
        for rel in report.damaged:
            console.print(f"[bold red]damaged:[/] {rel}")
        _show_lost(ctx)
    if report.damaged_count:
        raise typer.Exit(4)


@retention_app.command("scrub")
def retention_scrub(
    ctx: typer.Context,
    camera: list[str] = typer.Option([], "--camera", help="Only this camera (repeatable)."),
    rate: int | None = typer.Option(None, "--rate", min=0, help="Bytes per second (0: no cap)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Same as `vigil segments scrub`."""
    segments_scrub(ctx, camera, rate, as_json)


@segments_app.command("problems")
def segments_problems(
    ctx: typer.Context,
    camera: str | None = typer.Argument(None, help="Only this camera."),
    include_acknowledged: bool = typer.Option(
        False, "--all", help="Also problems already acknowledged."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Footage lost since it was recorded: segment files gone (missing) or changed (damaged)."""
    from vigil.camera.checksum import list_problems

    rows = list_problems(state(ctx).db(), camera=camera, include_acknowledged=include_acknowledged)
    if as_json:
        print_json([p.as_dict() for p in rows])
        return
    if not rows:
        console.print("no lost footage" + ("" if include_acknowledged else " awaiting review"))
        return
    table = Table("id", "camera", "kind", "from (UTC)", "to (UTC)", "file", "why", "found", "ack")
    for p in rows:
        table.add_row(
            str(p.id),
            p.camera,
            f"[red]{p.kind}[/]",
            _when(p.start.isoformat()),
            _when(p.end.isoformat()),
            p.path,
            p.detail,
            f"{_when(p.found_at.isoformat())} ({p.found_by})",
            f"{p.acknowledged_by}: {p.note}" if p.acknowledged_at else "-",
        )
    console.print(table)


@segments_app.command("ack")
def segments_ack(
    ctx: typer.Context,
    camera: str = typer.Argument(..., help="Camera whose lost footage is acknowledged."),
    note: str = typer.Option(
        ..., "--note", "-n", help="What was done about it (recorded in the audit log)."
    ),
    ids: list[int] = typer.Option(
        [], "--id", help="Only this problem (repeatable; see `problems`)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Acknowledge lost footage: it leaves status (kept in `problems --all`); audited."""
    from vigil.camera.checksum import acknowledge
    from vigil.privacy.audit import Action

    st = state(ctx)
    if not note.strip():
        raise InputError("--note must say what was done about the lost footage")
    marked = acknowledge(st.db(), by=current_user(), note=note, camera=camera, ids=ids or None)
    if not marked:
        raise NotFoundError(
            f"no unacknowledged lost footage of {camera}"
            + (f" with id {', '.join(map(str, ids))}" if ids else ""),
            hint="see `vigil segments problems`",
        )
    st.audit(
        Action.ack_footage,
        reason=note,
        camera=camera,
        details={"problems": [{"id": p.id, "kind": p.kind, "path": p.path} for p in marked]},
    )
    if as_json:
        print_json([p.as_dict() for p in marked])
        return
    console.print(f"acknowledged {len(marked)} lost segment(s) of {camera} ({current_user()})")
