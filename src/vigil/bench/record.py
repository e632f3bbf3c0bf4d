"""`vigil bench record`: N simultaneous 1080p H.264 RTSP cameras recorded by stream copy.

Vigil's recorder (`RecordingService`: one thread per camera, in worker processes of
`cameras_per_worker` cameras each, or all in one process) and the common
alternative, one `ffmpeg -c copy` process per camera (Debian's ffmpeg, writing 60 s fMP4
segments), record the same streams in turn in the same run; each is measured over the same
steady window after every camera is connected: CPU time of the recorder process(es) only
(Vigil's: the recorder, its forkserver and its workers)
(not the server), memory as PSS (shared libraries counted once), and the footage that
reached the disk (so a recorder that drops data cannot look cheap). Vigil hashes its footage
as it writes (SHA-256, the tamper evidence of 0001) and ffmpeg does not, so CPU per camera is
also shown beside ffmpeg plus the SHA-256 of the footage it wrote in the window.
With `c_probe`, a third recorder joins each round: `copy_loop_probe.c`, the same copy loop and
hash written in C (a thread per camera in one process), built here with the system's FFmpeg
and OpenSSL development files: what the recorder would cost without the interpreter (0078).

The cameras are served by `record_server.py` (GStreamer, system python): a 1080p25
~4 Mbit/s H.264 clip encoded once (ffmpeg, test pattern plus temporal noise so the bitrate
is real) and cached, served without re-encoding; every camera is a separate RTSP session.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import av
import psutil

from vigil.bench.report import Figure
from vigil.camera.checksum import file_sha256
from vigil.camera.recorder import RecorderOptions
from vigil.compiled import build_c
from vigil.errors import VigilError
from vigil.process import stop_process

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).with_name("record_server.py")
PROBE_SOURCE = Path(__file__).with_name("copy_loop_probe.c")
PROBE_LIBS = ("libavformat", "libavcodec", "libavutil", "libcrypto")
PROBE_DEPS = "on Debian: apt install gcc libc6-dev pkg-config libavformat-dev libssl-dev"
WIDTH, HEIGHT, FPS, KBPS = 1920, 1080, 25, 4000
# RTP over UDP: gst-rtsp-server 1.22 aborts (`queue_duration >= 0` assertion in its TCP
# backlog) when dozens of TCP clients share a media, so the cameras are read over UDP.
TRANSPORT = "udp"
DEFAULT_PER_WORKER = RecorderOptions().cameras_per_worker or 0


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vigil" / "bench"


def make_clip(
    seconds: int,
    folder: Path | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
    kbps: int = KBPS,
) -> Path:
    """A 25 fps H.264 MP4 (1080p ~4 Mbit/s by default; keyframe every 2 s, no B-frames, like a
    camera)."""
    folder = folder or cache_dir()
    path = folder / f"rtsp-{height}p{FPS}-{kbps}k-{seconds}s.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise VigilError("ffmpeg not found", hint="run scripts/system-deps.sh (Debian ffmpeg)")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    cmd = [
        ffmpeg, "-nostdin", "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={FPS}",
        "-vf", "noise=alls=10:allf=t", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", f"{kbps}k",
        "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k", "-g", str(2 * FPS), "-bf", "0",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    tmp.replace(path)
    return path


def _server_ready() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
        capture_output=True,
    )
    if probe.returncode:
        return "the system python cannot load GstRtspServer"
    return None


class Server:
    def __init__(self, clip: Path, mounts: list[str]) -> None:
        why = _server_ready()
        if why:
            raise VigilError(
                f"cannot start the RTSP test server: {why}", hint="run scripts/system-deps.sh test"
            )
        args = [SYSTEM_PYTHON, str(SERVER), "--file", str(clip)]
        for m in mounts:
            args += ["--mount", m]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise VigilError(f"the RTSP test server did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        self.ps = psutil.Process(self.proc.pid)
        self._stop = threading.Event()
        self._holders: list[threading.Thread] = []

    def hold(self, mount: str) -> None:
        """Keep one client on a mount (in this process, not measured), so the shared media
        is prepared before dozens of cameras connect at once."""

        def read() -> None:
            opts = {"rtsp_transport": TRANSPORT, "analyzeduration": "0", "probesize": "32"}
            try:
                with av.open(self.url + mount, options=opts, timeout=10) as c:
                    for _ in c.demux():
                        if self._stop.is_set():
                            return
            except Exception:  # the server went away: the phase reports it
                return

        t = threading.Thread(target=read, daemon=True)
        t.start()
        self._holders.append(t)
        time.sleep(1.0)

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        self._stop.set()
        stop_process(self.proc)


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    """A process and all its descendants (a recorder's forkserver and worker processes)."""
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


def _pss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().pss
    return total


def _bytes_under(folder: Path) -> int:
    n = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            if f.endswith(".mp4"):
                with contextlib.suppress(OSError):
                    n += os.stat(os.path.join(root, f)).st_size
    return n


@dataclass
class Phase:
    name: str
    cameras: int
    window_s: float = 0.0
    cpu_s: float = 0.0  # recorder process(es) during the window
    server_cpu_s: float = 0.0
    pss_bytes: int = 0
    idle_pss_bytes: int = 0
    recorded_bytes: int = 0  # reached the disk during the window
    # ffmpeg: CPU seconds SHA-256 of the window's footage costs (Vigil hashes as it writes)
    hash_cpu_s: float | None = None
    online: int = 0
    min_fps: float | None = None  # slowest camera's frame rate at the end (vigil only)
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_pct(self) -> float:  # % of one core
        return 100 * self.cpu_s / self.window_s if self.window_s else 0.0

    @property
    def mbps(self) -> float:
        return self.recorded_bytes * 8 / self.window_s / 1e6 if self.window_s else 0.0


def _measure(
    phase: Phase,
    procs: Callable[[], list[psutil.Process]],
    server: Server,
    folder: Path,
    warmup_s: float,
    seconds: float,
) -> None:
    time.sleep(warmup_s)
    c0, s0, b0, t0 = _cpu(procs()), server.cpu(), _bytes_under(folder), time.monotonic()
    time.sleep(seconds)
    c1, s1, b1, t1 = _cpu(procs()), server.cpu(), _bytes_under(folder), time.monotonic()
    phase.window_s = t1 - t0
    phase.cpu_s = c1 - c0
    phase.server_cpu_s = s1 - s0
    phase.recorded_bytes = b1 - b0
    phase.pss_bytes = _pss(procs())


def run_vigil(
    url: str,
    n: int,
    folder: Path,
    server: Server,
    warmup_s: float,
    seconds: float,
    *,
    burn: bool = False,
    name: str = "vigil (1 process)",
    per_worker: int = 0,
    copy_loop: str = "auto",
):
    """`per_worker`: cameras per recorder worker process (0: all in the one process);
    `copy_loop`: the recorder's option ("python": its PyAV loop even where C could record)."""
    phase = Phase(name, n)
    folder.mkdir(parents=True, exist_ok=True)
    worker = [sys.executable, "-m", "vigil.bench.record_worker", str(folder), url, str(n)]
    proc = subprocess.Popen(
        [*worker, TRANSPORT, "burn" if burn else "copy", str(per_worker), copy_loop],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "LOADED":
            raise VigilError("the recorder process did not start")
        me = psutil.Process(proc.pid)
        phase.idle_pss_bytes = _pss([me])
        proc.stdin.write("GO\n")
        proc.stdin.flush()
        if proc.stdout.readline().strip() != "ONLINE":
            phase.notes.append("not every camera came online within 60 s")
        _measure(phase, lambda: _tree(me), server, folder, warmup_s, seconds)
        proc.stdin.write("STOP\n")
        proc.stdin.flush()
        result = json.loads(proc.stdout.readline() or "{}")
        statuses = result.get("cameras", [])
        for text, count in result.get("warnings", {}).items():
            phase.notes.append(f"recorder warned {count} time(s): {text}")
        phase.online = sum(1 for s in statuses if s.get("recording"))
        rates = [s.get("fps") or 0.0 for s in statuses]
        phase.min_fps = min(rates) if rates else None
        errors = {s["error"] for s in statuses if s.get("error")}
        phase.notes += sorted(errors)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return phase


def run_ffmpeg(url: str, n: int, folder: Path, server: Server, warmup_s: float, seconds: float):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise VigilError("ffmpeg not found", hint="run scripts/system-deps.sh (Debian ffmpeg)")
    phase = Phase("ffmpeg -c copy (1 process per camera)", n)
    procs: list[subprocess.Popen[bytes]] = []

    def launch(i: int) -> subprocess.Popen[bytes]:
        out = folder / f"c{i:02d}"
        out.mkdir(parents=True, exist_ok=True)
        cmd = [
            ffmpeg, "-nostdin", "-loglevel", "fatal", "-rtsp_transport", TRANSPORT,
            "-timeout", "5000000", "-i", url, "-map", "0:v", "-c", "copy",
            "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1",
            "-segment_format", "mp4",
            "-segment_format_options", "movflags=frag_keyframe+empty_moov+default_base_moof",
            str(out / "%05d.mp4"),
        ]  # fmt: skip
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)

    try:
        for i in range(n):
            procs.append(launch(i))
            time.sleep(0.02)
        deadline = time.monotonic() + 60
        restarts = 0
        while time.monotonic() < deadline:
            phase.online = sum(1 for i in range(n) if _bytes_under(folder / f"c{i:02d}") > 0)
            if phase.online == n:
                break
            for i, p in enumerate(procs):  # like a supervisor would: restart the failed
                if p.poll() is not None:
                    procs[i] = launch(i)
                    restarts += 1
            time.sleep(0.5)
        if restarts:
            phase.notes.append(f"{restarts} ffmpeg start(s) failed and were retried")
        if phase.online < n:
            phase.notes.append(f"only {phase.online} of {n} ffmpeg processes wrote data")
        ps = [psutil.Process(p.pid) for p in procs]
        _measure(phase, lambda: ps, server, folder, warmup_s, seconds)
        phase.hash_cpu_s = _hash_cpu_per_byte(folder) * phase.recorded_bytes
        dead = sum(1 for p in procs if p.poll() is not None)
        if dead:
            phase.notes.append(f"{dead} ffmpeg process(es) exited early")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # ffmpeg finishes its file on SIGINT
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return phase


def build_probe() -> Path:
    """The C copy-loop probe, compiled once per version of its source."""
    return build_c(PROBE_SOURCE, list(PROBE_LIBS), shared=False, hint=PROBE_DEPS)


def run_probe(
    url: str, n: int, folder: Path, server: Server, warmup_s: float, seconds: float, *, exe: Path
) -> Phase:
    """`exe`: the probe `build_probe` made."""
    phase = Phase("C copy loop probe (1 process, a thread per camera)", n)
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"c{i:02d}.mp4" for i in range(n)]
    errors = folder / "probe.log"
    with errors.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), url, str(n), str(folder)], stdin=subprocess.PIPE, stderr=log
        )
    assert proc.stdin is not None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            phase.online = sum(1 for f in files if f.exists() and f.stat().st_size > 0)
            if phase.online == n:
                break
            time.sleep(0.5)
        if phase.online < n:
            phase.notes.append(f"only {phase.online} of {n} cameras wrote data")
        me = psutil.Process(proc.pid)
        _measure(phase, lambda: [me], server, folder, warmup_s, seconds)
        proc.stdin.close()  # EOF: every thread ends at its next packet and closes its file
        proc.wait(30)
        if proc.returncode:
            phase.notes.append(f"the probe exited with status {proc.returncode}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        phase.notes += errors.read_text(errors="replace").splitlines()
    return phase


def probe_figures(probe: Phase, ffmpeg: Phase | None) -> list[Figure]:
    """The C probe's median round beside ffmpeg's (both without Vigil's own work)."""
    n = probe.cameras
    rows: list[tuple[str, Callable[[Phase], float], str, float | None, bool]] = [
        ("CPU per camera (hashing too)", lambda p: p.cpu_pct / n, "% core", None, False),
        ("memory per camera (PSS)", lambda p: p.pss_bytes / n / 2**20, "MiB", None, False),
        ("footage written to disk", lambda p: p.mbps, "Mbit/s",
         0.98 * ffmpeg.mbps if ffmpeg else None, True),
    ]  # fmt: skip

    def base(value: Callable[[Phase], float]) -> _Baseline:
        return {"baseline": value(ffmpeg), "baseline_name": "ffmpeg per camera"} if ffmpeg else {}

    return [
        Figure(f"C probe: {name}", value(probe), unit, target, higher, **base(value))
        for name, value, unit, target, higher in rows
    ]


def run(
    cameras: int = 64,
    seconds: float = 15.0,
    warmup_s: float = 3.0,
    baseline: bool = True,
    log: Callable[[str], None] = lambda _m: None,
    rounds: int = 1,
    per_worker: tuple[int, ...] = (DEFAULT_PER_WORKER,),
    c_probe: bool = False,
    pyav_loop: bool = False,
) -> tuple[list[Figure], list[Phase]]:
    """`rounds` > 1 alternates ours and the baseline that many times and reports the median
    round of each, so that another job on the machine for a while skews one round only.
    `per_worker`: Vigil's layouts measured in each round (cameras per worker process, 0 for
    one process); the figures compare the first with the baseline. `c_probe`: the C copy
    loop probe too, in each round; `pyav_loop`: the first layout again with the recorder's
    PyAV loop (`copy_loop: python`), in each round."""
    # built before any round: a missing compiler says so at once
    probe = functools.partial(run_probe, exe=build_probe()) if c_probe else None
    clip_s = int(seconds + warmup_s + 40)  # a phase must end before the clip does
    log(f"test clip: {clip_s} s of 1080p25 at ~{KBPS / 1000:g} Mbit/s (cached)")
    clip = make_clip(clip_s)
    ours: list[Phase] = []
    others: list[Phase] = []  # the further layouts of ours
    theirs: list[Phase] = []
    probes: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-record-") as tmp:
        for r in range(1, rounds + 1):
            layouts = [(per, "auto") for per in per_worker]
            if pyav_loop:
                layouts.append((per_worker[0], "python"))
            for k, (per, loop) in enumerate(layouts):
                # a fresh server for each phase: the file starts over and nothing carries
                name = layout_name(per, cameras) + (", PyAV loop" if loop == "python" else "")
                log(f"round {r}/{rounds}: {name}, {cameras} cameras, {seconds:g} s window")
                vigil = functools.partial(run_vigil, per_worker=per, name=name, copy_loop=loop)
                phase = _phase(clip, vigil, cameras, Path(tmp) / "vigil", warmup_s, seconds)
                (ours if k == 0 else others).append(phase)
            if baseline:
                log(f"round {r}/{rounds}: ffmpeg, {cameras} processes, {seconds:g} s window")
                theirs.append(
                    _phase(clip, run_ffmpeg, cameras, Path(tmp) / "ffmpeg", warmup_s, seconds)
                )
            if probe is not None:
                log(f"round {r}/{rounds}: C probe, {cameras} cameras, {seconds:g} s window")
                probes.append(_phase(clip, probe, cameras, Path(tmp) / "probe", warmup_s, seconds))
    medians = [_median(ours)] + ([_median(theirs)] if theirs else [])
    figs = figures(medians)
    if probes:
        figs += probe_figures(_median(probes), medians[1] if theirs else None)
    return figs, ours + others + theirs + probes


def layout_name(per_worker: int, cameras: int) -> str:
    if per_worker <= 0 or cameras <= per_worker:
        return "vigil (1 process)"
    workers = -(-cameras // per_worker)
    return f"vigil ({workers} worker processes)"


def _phase(
    clip: Path,
    runner: Callable[..., Phase],
    cameras: int,
    folder: Path,
    warmup_s: float,
    seconds: float,
) -> Phase:
    server = Server(clip, ["/cam"])
    try:
        server.hold("/cam")
        return runner(f"{server.url}/cam", cameras, folder, server, warmup_s, seconds)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _hash_cpu_per_byte(folder: Path) -> float:
    """CPU seconds a byte of SHA-256 over the footage under `folder` (read back from the page
    cache, as a tool checksumming ffmpeg's files would): the tamper evidence Vigil's recorder
    computes as it writes (0001) and ffmpeg does not."""
    cpu, n = time.thread_time(), 0
    for path in sorted(folder.rglob("*.mp4")):
        with contextlib.suppress(OSError):
            file_sha256(path)
            n += path.stat().st_size
    return (time.thread_time() - cpu) / n if n else 0.0


def _median(phases: list[Phase]) -> Phase:
    """The round with the median CPU (a whole round, so its figures belong together)."""
    return sorted(phases, key=lambda p: p.cpu_pct)[(len(phases) - 1) // 2]


class _Baseline(TypedDict, total=False):
    """Figure's baseline fields: both, or neither when there is no baseline phase."""

    baseline: float | None
    baseline_name: str


def figures(phases: list[Phase]) -> list[Figure]:
    v = phases[0]
    b = phases[1] if len(phases) > 1 else None
    n = v.cameras
    name = "ffmpeg per camera"

    def base(x: float | None) -> _Baseline:
        return {"baseline": x, "baseline_name": name} if b is not None else {}

    mb = 1024 * 1024
    # as much footage as ffmpeg wrote from the same streams (the nominal rate only without it)
    expected = 0.98 * b.mbps if b is not None else 0.95 * n * KBPS / 1000
    return [
        Figure(
            f"CPU, all {n} cameras", v.cpu_pct, "% core", 100, False,
            **base(b.cpu_pct if b else None),
        ),
        Figure(
            "CPU per camera", v.cpu_pct / n, "% core", None, False,
            **base(b.cpu_pct / n if b else None),
        ),
        *(
            [
                Figure(
                    "CPU per camera, beside ffmpeg + SHA-256 of its footage", v.cpu_pct / n,
                    "% core", None, False,
                    100 * (b.cpu_s + b.hash_cpu_s) / b.window_s / n, "ffmpeg + sha256",
                )
            ]
            if b is not None and b.hash_cpu_s is not None and b.window_s
            else []
        ),
        Figure(
            "memory per camera (PSS)", v.pss_bytes / n / mb, "MiB", None, False,
            **base(b.pss_bytes / n / mb if b else None),
        ),
        Figure(
            "memory per camera beyond the idle process", (v.pss_bytes - v.idle_pss_bytes) / n / mb,
            "MiB", None, False, **base(b.pss_bytes / n / mb if b else None),
        ),
        Figure(
            "footage written to disk", v.mbps, "Mbit/s", expected, True,
            **base(b.mbps if b else None),
        ),
        Figure(
            "cameras recording at the end", v.online, "", n, True,
            **base(b.online if b else None),
        ),
    ]  # fmt: skip


# --- burn-in: privacy masks re-encoded into the recording, beside stream copy ---------------

BURN_SIZES: tuple[tuple[int, int, int], ...] = ((1920, 1080, KBPS), (1280, 720, 2000))


@dataclass
class BurnResult:
    """Stream copy and burn-in of the same cameras at one resolution."""

    label: str  # e.g. "1080p25"
    copy: Phase
    burn: Phase

    def per_camera_pct(self, phase: Phase) -> float:
        return phase.cpu_pct / phase.cameras

    def added_mib(self, phase: Phase) -> float:
        return (phase.pss_bytes - phase.idle_pss_bytes) / phase.cameras / 2**20

    @property
    def cameras_per_core(self) -> float:
        pct = self.per_camera_pct(self.burn)
        return 100 / pct if pct else 0.0


def run_burn(
    cameras: int = 2,
    seconds: float = 10.0,
    warmup_s: float = 3.0,
    sizes: tuple[tuple[int, int, int], ...] = BURN_SIZES,
    log: Callable[[str], None] = lambda _m: None,
    clip_folder: Path | None = None,
) -> tuple[list[Figure], list[BurnResult]]:
    """Per resolution: the same `cameras` recorded by stream copy, then with a privacy mask
    burned in (decode, mask, libx264 re-encode), each measured over the same window."""
    clip_s = int(seconds + warmup_s + 40)
    results: list[BurnResult] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-burn-") as tmp:
        for width, height, kbps in sizes:
            label = f"{height}p{FPS}"
            log(f"test clip: {clip_s} s of {label} at ~{kbps / 1000:g} Mbit/s (cached)")
            clip = make_clip(clip_s, clip_folder, width=width, height=height, kbps=kbps)
            phases: dict[bool, Phase] = {}
            for burn in (False, True):
                mode = "burn-in" if burn else "stream copy"
                server = Server(clip, ["/cam"])  # fresh: the file starts over for each phase
                try:
                    server.hold("/cam")
                    log(f"{label} {mode}: {cameras} camera(s), {seconds:g} s window")
                    folder = Path(tmp) / f"{label}-{'burn' if burn else 'copy'}"
                    url = f"{server.url}/cam"
                    phases[burn] = run_vigil(
                        url, cameras, folder, server, warmup_s, seconds, burn=burn, name=mode
                    )
                finally:
                    server.stop()
                shutil.rmtree(folder, ignore_errors=True)
                fps = phases[burn].min_fps
                if fps is not None and fps < FPS * 0.9:
                    phases[burn].notes.append(
                        f"a camera recorded only {fps:g} fps of {FPS}: the machine could not "
                        "keep up, so this CPU figure is a floor"
                    )
            results.append(BurnResult(label, phases[False], phases[True]))
    return burn_figures(results), results


def burn_figures(results: list[BurnResult]) -> list[Figure]:
    figures: list[Figure] = []
    for r in results:
        copy = {"baseline_name": "stream copy"}
        figures += [
            Figure(
                f"CPU per camera, {r.label}, burn-in", r.per_camera_pct(r.burn), "% core",
                None, False, baseline=r.per_camera_pct(r.copy), **copy,
            ),
            Figure(
                f"footage per camera, {r.label}, burn-in", r.burn.mbps / r.burn.cameras,
                "Mbit/s", None, False, baseline=r.copy.mbps / r.copy.cameras, **copy,
            ),
            Figure(
                f"memory per camera beyond the idle process, {r.label}, burn-in",
                r.added_mib(r.burn), "MiB", None, False, baseline=r.added_mib(r.copy), **copy,
            ),
            Figure(f"burned-in {r.label} cameras per core", r.cameras_per_core, "", None, True),
        ]  # fmt: skip
    return figures
