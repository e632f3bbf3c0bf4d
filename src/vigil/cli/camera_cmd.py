"""`vigil cameras list|probe|status|health`, `vigil record`, `vigil export [clip|verify]`.

Camera modules (PyAV) are imported inside the commands so `vigil --help` stays fast.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from vigil.cli.state import console, print_json, state
from vigil.errors import InputError, NotFoundError, VigilError

if TYPE_CHECKING:
    from typer._click import Context as ClickContext  # the click typer bundles

    from vigil.camera.status import CameraStatus

cameras_app = typer.Typer(
    help="Cameras: list, probe a URL, show status, discover and add ONVIF cameras.",
    no_args_is_help=True,
)

STALE_AFTER_S = 15.0  # a status file older than this means no recorder is running


class ExportGroup(TyperGroup):
    """`vigil export CAMERA ...` cuts a clip (the `clip` command, named or not);
    `vigil export verify PATH` checks one."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["clip", *args]
        return super().parse_args(ctx, args)


export_app = typer.Typer(
    cls=ExportGroup,
    help="Export footage (`vigil export CAMERA --from .. --to ..`; redacted unless --original) "
    "and verify exports.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `cameras` (with ONVIF `discover` and `add-onvif`), `record` and `export` (clip,
    verify) to the root app."""
    from vigil.cli import onvif_cmd

    onvif_cmd.register(cameras_app)
    app.add_typer(cameras_app, name="cameras")
    app.command("record")(record)
    export_app.command("clip")(export)
    export_app.command("verify")(verify_export)
    app.add_typer(export_app, name="export")


EXIT_BAD_EXPORT = 4


def verify_export(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ..., exists=True, help="A bundle .zip, a folder, a signed file or its .manifest.json."
    ),
    pubkey: Path | None = typer.Option(
        None, "--pubkey", help="Check with this public key instead of this site's key."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check an export's signed manifest(s) and every file's SHA-256 (exit 4 if not intact)."""
    from rich.markup import escape

    from vigil.privacy.bundle import verify_export as check_export
    from vigil.privacy.keys import VerifyKey
    from vigil.storage import TmpSpace

    st = state(ctx)
    key = VerifyKey.load(pubkey) if pubkey else None
    # a ZIP is unpacked in the site's capped temporary space, not the system's
    tmp = TmpSpace.from_config(st.config)
    if path.is_file() and path.suffix.lower() == ".zip":
        tmp.check(path.stat().st_size, f"unpacking {path.name}")
    checks = check_export(path, data_dir=st.data_dir, key=key, scratch=tmp.folder())
    ok = all(c.ok for c in checks)
    if as_json:
        print_json({"ok": ok, "manifests": [c.as_dict() for c in checks]})
    else:
        for c in checks:
            if c.ok:
                console.print(
                    f"[green]intact[/]: {escape(str(c.path))}: signature valid (key "
                    f"{c.key_id}), {c.files_ok} file(s) match"
                )
            else:
                console.print(f"[red]NOT intact[/]: {escape(str(c.path))}")
                for p in c.problems:
                    console.print(f"  [red]problem:[/] {escape(p)}")
    if not ok:
        raise typer.Exit(EXIT_BAD_EXPORT)


def _ago(t: float | None, now: float | None = None) -> str:
    if t is None:
        return "-"
    s = max(0.0, (now or time.time()) - t)
    if s < 90:
        return f"{s:.0f}s ago"
    if s < 5400:
        return f"{s / 60:.0f}m ago"
    if s < 172800:
        return f"{s / 3600:.1f}h ago"
    return f"{s / 86400:.1f}d ago"


@cameras_app.command("list")
def cameras_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The cameras in vigil.yaml (passwords hidden)."""
    from vigil.camera.source import redact_url, source_kind

    cams = state(ctx).config.cameras
    rows: list[dict[str, Any]] = [
        {
            "name": c.name,
            "enabled": c.enabled,
            "record": c.record,
            "kind": str(source_kind(c.url)),
            "url": redact_url(c.url),
            "sub_url": redact_url(c.sub_url) if c.sub_url else None,
            "segment_seconds": c.segment_seconds,
            "retention_days": c.retention_days,
        }
        for c in cams
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no cameras in vigil.yaml (add them under `cameras:`)")
        return
    table = Table("name", "on", "rec", "kind", "url", "sub-stream", "segment", "keep")
    for r in rows:
        table.add_row(
            r["name"],
            "yes" if r["enabled"] else "no",
            "yes" if r["record"] else "no",
            r["kind"],
            r["url"],
            r["sub_url"] or "-",
            f"{r['segment_seconds']} s",
            f"{r['retention_days']:g} d",
        )
    console.print(table)


@cameras_app.command("probe")
def cameras_probe(
    url: str = typer.Argument(..., help="rtsp://, http(s)://, a file, or /dev/videoN."),
    transport: str = typer.Option("tcp", help="RTSP transport: tcp or udp."),
    seconds: float = typer.Option(2.0, min=0.1, help="How long to read packets."),
    timeout: float = typer.Option(5.0, min=0.5, help="I/O timeout in seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Connect to a source and report codec, size, frame rate and bitrate."""
    from vigil.camera.source import SourceError, probe

    if transport not in ("tcp", "udp"):
        raise InputError(f"--transport must be tcp or udp, not {transport!r}")
    try:
        info = probe(url, seconds=seconds, rtsp_transport=transport, io_timeout_s=timeout)
    except SourceError as exc:
        raise VigilError(f"probe failed: {exc}") from exc
    if as_json:
        print_json(info.as_dict())
        return
    table = Table(show_header=False)
    for key, value in info.as_dict().items():
        table.add_row(key, "-" if value is None else str(value))
    console.print(table)


def _status_table(statuses: list[CameraStatus], now: float | None = None) -> Table:
    table = Table()
    columns = ("camera", "state", "fps", "kbit/s", "last packet", "offline since", "segs")
    for name in (*columns, "dropped rec/analysis"):
        table.add_column(name, no_wrap=True)
    table.add_column("problem", overflow="fold", ratio=1)
    styles = {"online": "green", "offline": "red", "error": "bold red", "disabled": "dim"}
    styles |= {"analysis-only": "cyan", "idle": "dim"}  # record: false
    for s in statuses:
        table.add_row(
            s.name,
            f"[{styles.get(s.state, 'yellow')}]{s.state}[/]",
            f"{s.fps:.1f}" if s.fps else "-",
            f"{s.bitrate_kbps:.0f}" if s.bitrate_kbps else "-",
            _ago(s.last_packet_at, now),
            _ago(s.offline_since, now) if s.offline_since else "-",
            str(s.segments_written),
            f"{s.dropped_frames}/{s.analysis_dropped}",
            s.error or "",
        )
    return table


@cameras_app.command("status")
def cameras_status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Camera status as last written by `vigil record`, and the footage in the index."""
    from sqlalchemy import func, select

    from vigil.camera.checksum import problem_counts
    from vigil.camera.status import read_status
    from vigil.store.models.camera import Segment

    st = state(ctx)
    cfg = st.config
    snap = read_status(st.data_dir)
    footage: dict[str, dict[str, object]] = {}
    with st.db().session() as s:
        rows = s.execute(
            select(
                Segment.camera,
                func.count(),
                func.min(Segment.start),
                func.max(Segment.end),
                func.sum(Segment.size_bytes),
            ).group_by(Segment.camera)
        ).all()
    for cam, n, first, last, size in rows:
        footage[cam] = {"segments": n, "first": first, "last": last, "bytes": int(size or 0)}
    lost = problem_counts(st.db())  # footage lost since it was recorded, not acknowledged
    for cam, f in footage.items():
        f.update(lost.get(cam, {"missing": 0, "damaged": 0}))
    running = snap is not None and snap.running and snap.age() < STALE_AFTER_S
    from vigil.camera.footage_retention import storage_status

    storage = storage_status(st.data_dir, st.config.recording)
    if as_json:
        print_json(
            {
                "recorder_running": running,
                "updated_at": snap.updated_at if snap else None,
                "cameras": [c.as_dict() for c in snap.cameras] if snap else [],
                "footage": footage,
                "storage": storage,
                "lost_footage": lost,
                "recognition": {
                    c.name: {"recognises": cfg.recognises(c), "note": cfg.recognition_note(c)}
                    for c in cfg.cameras
                },
            }
        )
        return
    if snap is None:
        console.print("[yellow]no recorder has run yet[/] (start one with `vigil record`)")
    else:
        if not running:
            how = "stopped" if not snap.running else "stopped answering (killed?)"
            console.print(
                f"[yellow]the recorder is not running[/]: it {how}; status last written "
                f"{_ago(snap.updated_at)} (pid {snap.pid})"
            )
        console.print(_status_table(snap.cameras))
    if storage["alarm"]:
        console.print(f"[bold red]storage alarm, recording paused:[/] {storage['reason']}")
    for note in filter(None, map(cfg.recognition_note, cfg.cameras)):  # decision 0064
        console.print(f"[yellow]{note}[/]", highlight=False)
    if footage:
        table = Table(
            "camera", "segments", "first footage (UTC)", "last footage (UTC)", "size", "lost"
        )
        for cam, f in sorted(footage.items()):
            table.add_row(
                cam,
                str(f["segments"]),
                f"{f['first']:%Y-%m-%d %H:%M:%S}",
                f"{f['last']:%Y-%m-%d %H:%M:%S}",
                f"{int(f['bytes']) / 1e6:.1f} MB",  # type: ignore[call-overload]  # an int, typed object
                _lost_text(lost.get(cam)),
            )
        console.print(table)
    for cam in sorted(lost):
        console.print(f"[bold red]{cam}: lost footage:[/] {_lost_text(lost[cam])} segment(s)")
    if lost:
        console.print(
            "lost footage stays listed until acknowledged: `vigil segments problems`, "
            "`vigil segments ack CAMERA --note ...`"
        )


def _lost_text(counts: dict[str, int] | None) -> str:
    if not counts or not any(counts.values()):
        return "-"
    return f"[bold red]{counts.get('missing', 0)} missing, {counts.get('damaged', 0)} damaged[/]"


def record(
    ctx: typer.Context,
    camera: list[str] = typer.Option(
        [], "--camera", help="Record only this camera (repeat for several)."
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="Show a live status table."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log connects and segments."),
) -> None:
    """Record every enabled camera until Ctrl-C or SIGTERM.

    Retention runs alongside (as in `vigil serve`): recording pauses while the disk is past
    its limits and deleting footage cannot help, and resumes when space returns."""
    from vigil.camera.footage_retention import FootageRetention
    from vigil.camera.recorder import RecorderOptions, RecordingService
    from vigil.maintenance import Scheduler

    st = state(ctx)
    cams = st.config.cameras
    if camera:
        unknown = sorted(set(camera) - {c.name for c in cams})
        if unknown:
            raise NotFoundError(
                f"no camera named {', '.join(unknown)} in vigil.yaml",
                hint="see `vigil cameras list`",
            )
        cams = [c for c in cams if c.name in camera]
    if not any(c.enabled and c.record for c in cams):
        raise VigilError(
            "no enabled camera to record", hint="add cameras under `cameras:` in vigil.yaml"
        )
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # the same disk guard as `vigil serve`: retention for every camera of vigil.yaml, and the
    # recorder asks its disk state before each segment
    retention = FootageRetention(st.db(), st.data_dir, st.config.cameras, st.config.recording)
    maintenance = Scheduler("record")
    retention.add_to(maintenance)
    maintenance.start()
    options = RecorderOptions(
        disk_check=retention.disk_state,
        cameras_per_worker=st.config.recording.cameras_per_worker or None,
        copy_loop=st.config.recording.copy_loop,
    )
    service = RecordingService(cams, st.data_dir, st.db(), options)
    try:
        report = service.start()
    except BaseException:
        maintenance.stop()
        raise
    if report is not None and report.changed:
        console.print(
            f"index repaired: {len(report.fixed)} interrupted segment(s) closed, "
            f"{len(report.added)} file(s) indexed, {len(report.removed)} row(s) of missing "
            f"files removed, {len(report.dropped_empty)} empty file(s) dropped"
        )
    for problem in report.problems if report else []:
        console.print(f"[yellow]index:[/] {problem}")
    console.print(
        f"recording {len(service.recording_names)} camera(s) into "
        f"{st.data_dir / 'recordings'}; Ctrl-C stops"
    )
    try:
        if live and console.is_terminal:
            from rich.live import Live

            with Live(
                _status_table(service.statuses()), console=console, refresh_per_second=2
            ) as lv:
                while not stop.wait(1.0):
                    lv.update(_status_table(service.statuses()))
        else:
            stop.wait()
    finally:
        console.print("stopping: closing segments...")
        service.stop()
        maintenance.stop()
    console.print(_status_table(service.statuses()))


def _parse_time(text: str, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            f"{what} {text!r} is not an ISO time", hint="e.g. 2026-11-28T14:05:00+01:00"
        ) from exc
    if t.tzinfo is None:
        t = t.astimezone()  # a time without offset is this machine's local time
    return t.astimezone(UTC)


def export(
    ctx: typer.Context,
    camera: str = typer.Argument(..., help="Camera name."),
    start: str = typer.Option(
        ..., "--from", help="Start, ISO 8601 (no offset = this machine's local time)."
    ),
    end: str = typer.Option(..., "--to", help="End, ISO 8601."),
    output: Path = typer.Option(..., "--output", "-o", help="The MP4 file to write."),
    exact: bool = typer.Option(
        False, "--exact", help="Re-encode (libx264) to cut exactly; default: fast remux."
    ),
    reason: str = typer.Option(
        ..., "--reason", "-r", help="Why the footage leaves the system (recorded in the audit log)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    redact: bool = typer.Option(
        True,
        "--redact/--original",
        " /--no-redact",
        help="Redacted (the default): every face but --subject's pixelated, the privacy masks "
        "blacked out. --original (or --no-redact): the unredacted original, audited as such.",
    ),
    subject: str | None = typer.Option(
        None, "--subject", help="The enrolled person whose face stays visible (redacted only)."
    ),
    redact_every: int = typer.Option(
        1, "--redact-every", min=1, help="Redacting: detect faces every N frames."
    ),
) -> None:
    """Export a camera's footage in a range as one MP4, redacted unless --original; signed."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from vigil.cli.state import current_user
    from vigil.exports.core import ExportRequest, ExportSite, audit_export, export_file, masks_of

    st = state(ctx)
    t0, t1 = _parse_time(start, "--from"), _parse_time(end, "--to")
    req = ExportRequest(
        camera,
        t0,
        t1,
        actor=current_user(),
        reason=reason,
        redact=redact,
        subject=subject,
        exact=exact,
        detect_every=redact_every,
        masks=masks_of(st.config, camera),
        via="cli",
    ).checked()
    # before anything is written; refuses an empty reason
    audit_export(st.audit_log, st.db(), req, source="cli", extra={"file": str(output)})
    site = ExportSite(st.config, st.db(), lambda: st.face_engine)
    with Progress(
        TextColumn("[bold]export[/] " + camera + (" (redacting)" if redact else "")),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json or not console.is_terminal,
    ) as bar:
        task = bar.add_task("export", total=1.0)
        with _clear_failure(camera):
            signed = export_file(
                site, req, output, progress=lambda f: bar.update(task, completed=f)
            )
    result, manifest = signed.result, signed.manifest
    info = {
        "path": str(result.path),
        "camera": camera,
        "mode": result.mode,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "duration_s": round(result.duration_s, 3),
        "frames": result.frames,
        "segments": result.segments,
        "size_bytes": result.size,
        "gaps": [[a.isoformat(), b.isoformat()] for a, b in result.gaps],
    }
    info["manifest"] = str(manifest)
    info["redacted"] = redact
    info["subject"] = subject
    info["faces_redacted"] = signed.faces_redacted
    info["footage"] = result.account()
    info["warnings"] = result.warnings()
    if as_json:
        print_json(info)
        return
    console.print(f"manifest (signed): {manifest}" + (" [redacted]" if redact else " [original]"))
    console.print(
        f"wrote {result.path}: {result.duration_s:.2f} s, {result.frames} frames from "
        f"{result.segments} segment(s), {result.size / 1e6:.1f} MB ({result.mode})"
    )
    if result.mode == "remux" and result.start < t0:
        console.print(
            f"starts {(t0 - result.start).total_seconds():.2f} s early, at the keyframe before "
            "--from (use --exact to cut exactly)"
        )
    if not result.complete:
        held = result.account()["footage_s"]
        console.print(
            f"[bold yellow]incomplete:[/] the clip holds {held:.1f} s of the "
            f"{(t1 - t0).total_seconds():.1f} s asked for; the signed manifest says so too"
        )
    for line in result.warnings():
        kind, _, text = line.partition(": ")
        colour = "yellow" if kind == "gap" else "bold red"
        console.print(f"[{colour}]{kind}:[/] {escape(text)}")
    if result.unverified:
        console.print(
            f"[dim]{result.unverified} segment(s) recorded before checksums: not verified[/]"
        )


@contextlib.contextmanager
def _clear_failure(camera: str) -> Iterator[None]:
    """Whatever still goes wrong cutting, redacting or signing a clip ends as one clear
    error (VigilError), never a traceback; the details go to the log."""
    import av

    try:
        yield
    except (VigilError, typer.Exit, KeyboardInterrupt):
        raise
    except av.error.FFmpegError as exc:
        logging.getLogger(__name__).debug("export of %s failed", camera, exc_info=True)
        raise VigilError(
            f"the export of {camera} failed: {exc.strerror or exc}",
            hint="the footage may be damaged: see `vigil segments problems`",
        ) from exc
    except OSError as exc:
        raise VigilError(f"the export of {camera} failed: {exc.strerror or exc}") from exc
    except Exception as exc:
        logging.getLogger(__name__).debug("export of %s failed", camera, exc_info=True)
        raise VigilError(
            f"the export of {camera} failed ({type(exc).__name__}: {exc})",
            hint="run with the log on (-v) or report it with this message",
        ) from exc


@cameras_app.command("health")
def cameras_health(
    ctx: typer.Context,
    accept: str | None = typer.Option(
        None,
        "--accept",
        metavar="CAMERA",
        help="Accept CAMERA's current view after an intended move or refocus: its reference "
        "picture is taken again from the next normal frame, and a moved/blurred alarm clears.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Camera health and tamper alarms: what is open on each camera, since when."""
    from vigil.events.health import HealthAlarms

    st = state(ctx)
    alarms = HealthAlarms(st.db(), st.data_dir)
    names = [c.name for c in st.config.cameras]
    if accept is not None:
        if accept not in names:
            raise NotFoundError(f"no camera named {accept!r} in the config")
        had = alarms.forget_reference(accept)
        console.print(
            f"{escape(accept)}: the next normal frame becomes the reference"
            + ("" if had else " (it had none yet)")
        )
        return
    states = alarms.states(names)
    if as_json:
        print_json(
            [
                {
                    "camera": h.camera,
                    "healthy": h.healthy,
                    "alarms": {c: {"uid": e.uid, "since": e.start} for c, e in h.open.items()},
                    "reference_at": h.reference_at,
                    "measures": h.measures,
                }
                for h in states
            ]
        )
        return
    table = Table("camera", "health", "since", "reference taken", "picture now")
    for h in states:
        health = ", ".join(h.open) or "[green]ok[/]"
        since = min((e.start for e in h.open.values()), default=None)
        m = h.measures
        now = f"brightness {m['mean']:.0f}, contrast {m['std']:.0f}" if "mean" in m else "-"
        table.add_row(
            h.camera,
            health if h.healthy else f"[red]{health}[/]",
            since.isoformat(timespec="seconds") if since else "-",
            h.reference_at.isoformat(timespec="seconds") if h.reference_at else "-",
            now,
        )
    console.print(table)
