"""`vigil bench api --glass`: live view delay from the camera's glass to the viewer.

The camera (`rtsp_camera.py`, a real GStreamer RTSP server) writes the wall-clock time each
frame is made into its pixels (`timecode`). The real pipeline reads it: an `AnalysisService`
with the camera's default analysis (motion gate, person and face detection) publishing into
`LiveFrames`, beside a `RecordingService` recording the same camera (as `vigil serve` runs
them), and the FastAPI app under uvicorn on 127.0.0.1. Viewers read the MJPEG stream over HTTP,
decode each JPEG and read its time code; Chromium draws the `<img>` onto a canvas and reads it
with `Date.now()`. The delay is split where the time code is read on its way: at the analyzer's
input (glass -> decoded: includes about one camera frame interval, because FFmpeg's H.264
parser ends a frame only when the next one starts), when the analysed frame is published
(decoded -> published: the analysis itself), and at the viewer (published -> received).

Beside it, the H.264 live view: the recorder's packets muxed into one-frame fMP4 fragments
(`camera.live_feed`), sent over `/api/v1/live/stream` and played by the UI's own MSE player
(`web/static/live.js`) in Chromium, each presented frame drawn onto a canvas and its time code
read (decision 0067).

Baselines in the same run: 20 viewers beside 1; Chromium beside the HTTP client and beside the
MJPEG framing the API used before (`LEGACY_PATH`); a busy scene (motion everywhere) analysed
with and without `NewestOnly` (analysis that falls behind drops frames instead of lagging).
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vigil.api.live import LiveFrames
from vigil.bench import timecode
from vigil.bench.report import Figure
from vigil.process import free_port

if TYPE_CHECKING:
    from vigil.pipeline.analyzer import EventDraft
    from vigil.pipeline.service import AnalysisService

SERVER_SCRIPT = Path(__file__).with_name("rtsp_camera.py")
SYSTEM_PYTHON = "/usr/bin/python3"
CAMERA = "glass"
GLASS_FPS = 15
PASSWORD = "bench glass password"


@contextmanager
def glass_camera(
    fps: int = GLASS_FPS, width: int = 640, height: int = 360, busy: bool = False
) -> Iterator[str]:
    """A live RTSP camera whose frames carry their wall-clock time; yields its URL.
    `busy`: stripes move over the rest of the frame, so analysis scans all of it."""
    from vigil.process import stop_process

    proc = subprocess.Popen(
        [
            SYSTEM_PYTHON,
            str(SERVER_SCRIPT),
            f"--fps={fps}",
            f"--width={width}",
            f"--height={height}",
            *(["--busy"] if busy else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"time-code camera did not start: {line!r} {err[-500:]}")
        yield line.split(" ", 1)[1]
    finally:
        stop_process(proc)


@dataclass
class StageClock:
    """When each time-coded frame (by its 32-bit ms code) passed each point of the pipeline."""

    decoded: dict[int, float] = field(default_factory=dict)
    published: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, where: dict[int, float], image: np.ndarray) -> None:
        now = time.time()
        code = timecode.read_ms32(image)
        if code is not None:
            with self.lock:
                where.setdefault(code, now)


@dataclass
class GlassSite:
    base_url: str
    token: str
    clock: StageClock
    analysis: AnalysisService

    @property
    def mjpeg_url(self) -> str:
        return f"{self.base_url}/api/v1/cameras/{CAMERA}/live.mjpeg?max_fps=30"


LEGACY_PATH = "/bench/legacy.mjpeg"


def _legacy_mjpeg(live: LiveFrames):
    """The live stream as the API framed it before: a part's boundary and headers (with its
    Content-Length) sent with its frame, so a part ends only when the next frame comes. For
    the same-run baseline of the Chromium figure; not part of the API."""
    from fastapi.responses import StreamingResponse

    async def stream() -> StreamingResponse:
        async def parts():
            last_seq = -1
            while not live.closed.is_set():
                frame = live.latest(CAMERA)
                if frame is not None and frame.seq != last_seq:
                    last_seq = frame.seq
                    head = "--vigilframe\r\nContent-Type: image/jpeg\r\n"
                    head += f"Content-Length: {len(frame.jpeg)}\r\n\r\n"
                    yield head.encode() + frame.jpeg + b"\r\n"
                await asyncio.sleep(0.02)

        return StreamingResponse(
            parts(), media_type="multipart/x-mixed-replace; boundary=vigilframe"
        )

    return stream


@contextmanager
def glass_site(
    url: str,
    data_dir: Path,
    engine,
    *,
    record: bool = True,
    analysis_fps: float = 5.0,
    newest_only: bool = True,
) -> Iterator[GlassSite]:
    """`vigil serve`'s parts on one camera: analysis publishing the live view, recording, and
    the API under uvicorn on 127.0.0.1, with the time code read at each stage.
    `newest_only=False`: analysis as it was before it dropped the frames it had no time for."""
    import uvicorn

    from vigil.api import ApiContext, accounts, create_app
    from vigil.api.auditing import MemoryAudit
    from vigil.camera.recorder import RecordingService
    from vigil.config import VigilConfig
    from vigil.faces.calibration import Calibration
    from vigil.faces.gallery import Gallery
    from vigil.pipeline.service import AnalysisService
    from vigil.store.db import Database
    from vigil.store.models.users import Role

    cfg = VigilConfig.model_validate(
        {
            "site": {"name": "bench glass"},
            "storage": {"data_dir": str(data_dir)},
            "cameras": [{"name": CAMERA, "url": url, "motion": {"fps": analysis_fps}}],
        }
    )
    db = Database(cfg.storage.resolved_database_url())
    ctx = ApiContext(cfg, db, engine=engine, audit=MemoryAudit())
    user = accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="bench")
    token, _ = accounts.create_token(db, user.id, "bench")
    clock = StageClock()

    def publish(camera: str, image: np.ndarray, /, *, people: list) -> None:
        clock.mark(clock.published, image)
        ctx.live.publish_image(camera, image, people=people)

    analysis = AnalysisService(
        cfg.cameras,
        engine,
        Gallery(db, engine.model_name),
        Calibration.default(engine.model_name),
        sink=lambda _event: None,
        on_frame=publish,
        recognises=cfg.recognises,
        db=db,
        newest_only=newest_only,
    )
    for thread in analysis.threads:
        process = thread.analyzer.process

        def timed(
            image: np.ndarray,
            at: float,
            _process: Callable[[np.ndarray, float], list[EventDraft]] = process,
        ) -> list[EventDraft]:
            clock.mark(clock.decoded, image)
            return _process(image, at)

        # Instrumentation: time each frame's arrival at analysis without a hook in the analyzer.
        thread.analyzer.process = timed  # type: ignore[assignment]
    recording = RecordingService(cfg.cameras, data_dir, db, live=ctx.feeds) if record else None
    port = free_port()
    app = create_app(ctx, web=False)
    app.add_api_route(LEGACY_PATH, _legacy_mjpeg(ctx.live), include_in_schema=False)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    web = threading.Thread(target=server.run, name="bench-uvicorn", daemon=True)
    web.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        if recording is not None:
            recording.start()
        analysis.start()
        yield GlassSite(f"http://127.0.0.1:{port}", token, clock, analysis)
    finally:
        analysis.stop()
        if recording is not None:
            recording.stop()
        ctx.live.close()
        ctx.feeds.close()
        server.should_exit = True
        web.join(10)
        db.close()


@dataclass
class Received:
    """What one MJPEG viewer got: per readable frame, its code and when it arrived."""

    codes: list[int] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    frames: int = 0
    unreadable: int = 0
    error: str = ""


class MjpegParts:
    """Splits the live MJPEG stream into JPEGs by its boundary (parts carry no length: each
    frame is followed at once by the next part's headers)."""

    def __init__(self, boundary: bytes = b"vigilframe") -> None:
        self._buf = b""
        self._delimiter = b"\r\n--" + boundary

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buf += chunk
        parts: list[bytes] = []
        while True:
            head_end = self._buf.find(b"\r\n\r\n")
            end = self._buf.find(self._delimiter, head_end + 4) if head_end >= 0 else -1
            if end < 0:
                return parts
            parts.append(self._buf[head_end + 4 : end])
            self._buf = self._buf[end + len(self._delimiter) :]


def read_mjpeg(url: str, token: str, seconds: float, out: Received) -> None:
    """Read the MJPEG stream for `seconds`, decoding each JPEG's time code as it arrives."""
    import httpx

    parts = MjpegParts()
    deadline = time.monotonic() + seconds
    try:
        with (
            httpx.Client(timeout=10) as c,
            c.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            r.raise_for_status()
            for chunk in r.iter_bytes():
                for jpeg in parts.feed(chunk):
                    now = time.time()
                    out.frames += 1
                    gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
                    code = None if gray is None else timecode.read_ms32(gray)
                    if code is None:
                        out.unreadable += 1
                    else:
                        out.codes.append(code)
                        out.received.append(now)
                if time.monotonic() > deadline:
                    return
    except Exception as exc:  # reported by the caller
        out.error = f"{type(exc).__name__}: {exc}"


# The time code in a canvas, read as `timecode.read_ms32` does: [ms32, null] or [null, why].
READ_CODE = """
const readCode = (g, cols, rows, block, margin) => {
  const w = margin * 2 + cols * block, q = block >> 2;
  const px = g.getImageData(0, 0, w, margin * 2 + rows * block).data;
  const bits = [];
  for (let i = 0; i < cols * rows; i++) {
    const r = Math.floor(i / cols), c = i % cols;
    const cy = margin + r * block + (block >> 1), cx = margin + c * block + (block >> 1);
    let sum = 0, n = 0;
    for (let y = cy - q; y < cy + q; y++)
      for (let x = cx - q; x < cx + q; x++) { sum += px[(y * w + x) * 4 + 1]; n++; }
    const level = sum / n;
    if (level > 70 && level < 180) return null;
    bits.push(level >= 180 ? 1 : 0);
  }
  let ms32 = 0;
  for (let i = 0; i < 32; i++) ms32 = ms32 * 2 + bits[i];
  let check = 0;
  for (let i = 32; i < 40; i++) check = check * 2 + bits[i];
  const b = [Math.floor(ms32 / 16777216) % 256, Math.floor(ms32 / 65536) % 256,
             Math.floor(ms32 / 256) % 256, ms32 % 256];
  return ((b[0] + b[1] * 3 + b[2] * 7 + b[3] * 13 + 0x5A) & 0xFF) === check ? ms32 : null;
};
const ageOf = (ms32) => {
  let delta = (Date.now() - ms32) % 4294967296;
  if (delta < 0) delta += 4294967296;
  return delta >= 2147483648 ? delta - 4294967296 : delta;
};
"""

# Runs in the page: draws the MJPEG <img> onto a canvas every few ms, reads the time code, and
# keeps Date.now() - code for each code's first sighting.
BROWSER_PROBE = (
    """([src, cols, rows, block, margin, seconds]) => new Promise((resolve) => {"""
    + READ_CODE
    + """
  document.body.innerHTML = "";
  const img = document.createElement("img");
  img.src = src;
  document.body.appendChild(img);
  const canvas = document.createElement("canvas");
  const g = canvas.getContext("2d", {willReadFrequently: true});
  const seen = new Set();
  const delays = [];
  let unreadable = 0, draws = 0;
  const read = () => {
    if (!img.naturalWidth) return;
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    g.drawImage(img, 0, 0);
    draws++;
    const ms32 = readCode(g, cols, rows, block, margin);
    if (ms32 === null) { unreadable++; return; }
    if (seen.has(ms32)) return;
    seen.add(ms32);
    delays.push(ageOf(ms32));
  };
  const timer = setInterval(read, 5);
  setTimeout(() => { clearInterval(timer); img.src = ""; resolve({delays, unreadable, draws}); },
             seconds * 1000);
})"""
)

# Runs in the page with the UI's own player (`static/live.js`): H.264 from /api/v1/live/stream
# into a <video> through MSE; at each frame the compositor presents (requestVideoFrameCallback)
# the frame is drawn onto a canvas and its time code read.
MSE_PROBE = (
    """([camera, cols, rows, block, margin, seconds]) => new Promise((resolve) => {"""
    + READ_CODE
    + """
  document.body.innerHTML = "";
  const video = document.createElement("video");
  video.autoplay = true;
  document.body.appendChild(video);
  const canvas = document.createElement("canvas");
  const g = canvas.getContext("2d", {willReadFrequently: true});
  const seen = new Set();
  const delays = [];
  let unreadable = 0, draws = 0, error = "";
  const stop = liveStream([{camera, video, onEnd: (why) => { error = why; }}]);
  const read = () => {
    if (video.videoWidth) {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      g.drawImage(video, 0, 0);
      draws++;
      const ms32 = readCode(g, cols, rows, block, margin);
      if (ms32 === null) unreadable++;
      else if (!seen.has(ms32)) { seen.add(ms32); delays.push(ageOf(ms32)); }
    }
    video.requestVideoFrameCallback(read);
  };
  video.requestVideoFrameCallback(read);
  setTimeout(() => {
    const q = video.getVideoPlaybackQuality();
    stop();
    resolve({delays, unreadable, draws, error, dropped: q.droppedVideoFrames,
             frames: q.totalVideoFrames});
  }, seconds * 1000);
})"""
)

LIVE_JS = Path(__file__).parents[1] / "web" / "static" / "live.js"


def browser_delays(
    site: GlassSite, seconds: float, legacy: bool = False, mse: bool = False
) -> dict:
    """Glass -> canvas in headless Chromium: {'delays': [ms], 'unreadable': n, 'draws': n}.
    `legacy`: read the stream framed as before (each part's boundary sent with the next frame).
    `mse`: the H.264 live stream played by the UI's MSE player instead of MJPEG."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_context(
                extra_http_headers={"Authorization": f"Bearer {site.token}"}
            ).new_page()
            # Same origin as the stream, so the canvas is readable.
            page.goto(f"{site.base_url}/api/v1/health")
            if mse:
                page.add_script_tag(content=LIVE_JS.read_text(encoding="utf-8"))
            args = [
                CAMERA if mse else site.base_url + LEGACY_PATH if legacy else site.mjpeg_url,
                timecode.COLS,
                timecode.ROWS,
                timecode.BLOCK,
                timecode.MARGIN,
                seconds,
            ]
            return page.evaluate(MSE_PROBE if mse else BROWSER_PROBE, args)
        finally:
            browser.close()


@dataclass
class GlassRun:
    """Delays (ms) of one measured run, by stage."""

    total: list[float]  # glass -> received by the viewer(s)
    camera_to_decoded: list[float]
    decoded_to_published: list[float]
    published_to_received: list[float]
    codes: list[list[int]]  # per viewer, codes in arrival order
    unreadable: int
    frames: int
    errors: list[str]


def measure(site: GlassSite, seconds: float, viewers: int = 1) -> GlassRun:
    """Run `viewers` MJPEG clients for `seconds` and split each frame's delay by stage."""
    results = [Received() for _ in range(viewers)]
    threads = [
        threading.Thread(target=read_mjpeg, args=(site.mjpeg_url, site.token, seconds, r))
        for r in results
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 20)
    clock = site.clock
    with clock.lock:
        decoded, published = dict(clock.decoded), dict(clock.published)
    run = GlassRun([], [], [], [], [], 0, 0, [r.error for r in results if r.error])
    for r in results:
        run.codes.append(r.codes)
        run.unreadable += r.unreadable
        run.frames += r.frames
        for code, at in zip(r.codes, r.received, strict=True):
            glass = timecode.full_ms(code, int(at * 1000)) / 1000
            run.total.append((at - glass) * 1000)
            if code in published:
                run.published_to_received.append((at - published[code]) * 1000)
    for code, at in decoded.items():
        glass = timecode.full_ms(code, int(at * 1000)) / 1000
        run.camera_to_decoded.append((at - glass) * 1000)
        if code in published:
            run.decoded_to_published.append((published[code] - at) * 1000)
    return run


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def stage_figures(label: str, run: GlassRun, baseline: GlassRun | None, base_name: str):
    figures = []
    stages = {
        "glass -> viewer": ("total", 1000.0),
        "glass -> decoded": ("camera_to_decoded", None),
        "decoded -> published": ("decoded_to_published", None),
        "published -> viewer": ("published_to_received", None),
    }
    for stage, (attr, target) in stages.items():
        values = getattr(run, attr)
        base = getattr(baseline, attr) if baseline is not None else None
        for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
            figures.append(
                Figure(
                    f"{label}: {stage} {name} (n={len(values)})",
                    pct(values, q),
                    "ms",
                    target if name == "p99" else None,
                    higher_is_better=False,
                    baseline=pct(base, q) if base else None,
                    baseline_name=base_name,
                )
            )
    return figures


def _quantiles(label: str, values: list[float], base: list[float] | None, base_name: str):
    return [
        Figure(
            f"{label} {name} (n={len(values)})",
            pct(values, q),
            "ms",
            1000.0 if name == "p99" else None,
            higher_is_better=False,
            baseline=pct(base, q) if base else None,
            baseline_name=base_name,
        )
        for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
    ]


def run(seconds: float = 10.0, viewers: int = 20, browser: bool = True) -> list[Figure]:
    """Figures of the shipped pipeline (split by stage, 1 and `viewers` viewers, Chromium),
    then glass -> viewer of a busy scene with and without newest-frame analysis."""
    from vigil.bench.api import live_figures
    from vigil.faces.engine import FaceEngine

    engine = FaceEngine()
    figures: list[Figure] = []
    compared: dict[tuple[float, bool], tuple[GlassRun, int]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="vigil-bench-glass-") as tmp,
        glass_camera() as url,
        glass_site(url, Path(tmp), engine) as site,
    ):
        time.sleep(3.0)  # connect, first keyframe, motion background learnt
        one = measure(site, seconds, 1)
        many = measure(site, seconds, viewers)
        for r in (one, many):
            if r.errors:
                raise RuntimeError(f"viewer failed: {r.errors[0]}")
        figures += stage_figures("glass, 1 viewer", one, None, "")
        figures += _quantiles(
            f"glass, {viewers} viewers: glass -> viewer", many.total, one.total, "1 viewer"
        )
        if browser:
            seen = browser_delays(site, seconds)
            figures += _quantiles(
                "glass -> Chromium canvas", seen["delays"], one.total, "HTTP client"
            )
            h264 = browser_delays(site, seconds, mse=True)
            if h264["error"] or not h264["delays"]:
                raise RuntimeError(f"the MSE player showed nothing: {h264['error']}")
            figures += _quantiles(
                "glass -> Chromium canvas, H.264 over MSE (each frame presented)",
                h264["delays"],
                seen["delays"],
                "MJPEG of the analysed frames",
            )
            figures.append(
                Figure(
                    f"H.264 over MSE: frames shown a second (camera {GLASS_FPS} fps)",
                    len(h264["delays"]) / seconds,
                    "fps",
                    baseline=len(seen["delays"]) / seconds,
                    baseline_name="MJPEG",
                )
            )
            legacy = browser_delays(site, seconds, legacy=True)
            figures += _quantiles(
                "glass -> Chromium canvas (MJPEG parts as shipped)",
                seen["delays"],
                legacy["delays"],
                "boundary sent with the next frame",
            )
    # A busy scene (motion everywhere) analysed at 5 and at 15 fps, with and without dropping
    # the frames analysis has no time for.
    with (
        tempfile.TemporaryDirectory(prefix="vigil-bench-glass-") as tmp,
        glass_camera(busy=True) as url,
    ):
        for fps in (5.0, 15.0):
            for newest in (True, False):
                data_dir = Path(tmp) / f"fps{fps:g}-{newest}"
                with glass_site(
                    url, data_dir, engine, analysis_fps=fps, newest_only=newest
                ) as site:
                    time.sleep(3.0)
                    result = measure(site, seconds, 1)
                    source = site.analysis.threads[0].source
                    compared[fps, newest] = (result, source.dropped if source else 0)
    for fps in (5.0, 15.0):
        after, dropped = compared[fps, True]
        before, _ = compared[fps, False]
        figures += _quantiles(
            f"busy scene, analysis at {fps:g} fps, newest frame ({dropped} dropped): "
            "glass -> viewer",
            after.total,
            before.total,
            "every frame in turn",
        )
    # The existing publish -> receive figure (synthetic publisher, no camera), for comparison.
    synthetic = live_figures(viewers=1, seconds=5.0)
    figures += [f for f in synthetic if "frame age" in f.name]
    return figures
