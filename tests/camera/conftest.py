"""Real parts for camera tests: the GStreamer RTSP server, H.264 test files, junk servers."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import pytest

import vigil.bench
from vigil.camera.index import add_segment, recordings_dir, segment_relpath
from vigil.camera.index import update_segment as set_segment
from vigil.process import stop_process
from vigil.store.db import Database

SERVER_SCRIPT = Path(vigil.bench.__file__).with_name("rtsp_camera.py")  # runs on SYSTEM_PYTHON
SYSTEM_PYTHON = "/usr/bin/python3"


def _gst_ready() -> str | None:
    """None when the RTSP server can run here, else why not."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found (the server needs the system python with gi)"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode:
        return "system python cannot import gi/GstRtspServer: run scripts/system-deps.sh test"
    return None


@dataclass
class RtspServer:
    args: list[str]
    proc: subprocess.Popen[str]
    url: str

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    def stop(self) -> None:
        stop_process(self.proc)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _start_server(args: list[str]) -> RtspServer:
    # stderr goes to a file: a pipe nobody reads would block the server once it fills.
    err = tempfile.TemporaryFile()  # noqa: SIM115 (the child keeps it open)
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, str(SERVER_SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        proc.wait()
        err.seek(0)
        why = err.read().decode(errors="replace")
        raise RuntimeError(f"RTSP test server did not start: {line!r} {why[-500:]}")
    err.close()
    return RtspServer(args, proc, line.split(" ", 1)[1])


@pytest.fixture(scope="session")
def vtest(testdata: Path) -> Path:
    path = testdata / "video" / "vtest.avi"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def rtsp_available() -> None:
    why = _gst_ready()
    if why:
        pytest.skip(why)


@pytest.fixture
def rtsp_server(rtsp_available: None, vtest: Path) -> Iterator[Callable[..., RtspServer]]:
    """Start real RTSP servers: `rtsp_server(port=0, user=None, password=None, codec="h264")`."""
    started: list[RtspServer] = []

    def start(
        port: int = 0, user: str | None = None, password: str | None = None, codec: str = "h264"
    ) -> RtspServer:
        args = ["--port", str(port), "--file", str(vtest), "--codec", codec]
        if user:
            args += ["--user", user, "--password", password or ""]
        last: Exception | None = None
        for _ in range(20):  # a just-killed server's port can take a moment to free
            try:
                srv = _start_server(args)
            except RuntimeError as exc:
                last = exc
                time.sleep(0.25)
                continue
            started.append(srv)
            return srv
        raise RuntimeError(str(last))

    yield start
    for srv in started:
        srv.kill()


def make_h264(src: Path, dst: Path, seconds: float, fps: int = 10, gop: int = 10) -> Path:
    """Encode the first `seconds` of `src` to an H.264 MP4 with a keyframe every `gop` frames."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ost = out.add_stream("libx264", rate=fps)
        vs = inp.streams.video[0]
        ost.width, ost.height = vs.codec_context.width, vs.codec_context.height
        ost.pix_fmt = "yuv420p"
        ost.options = {
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "preset": "ultrafast",
            "bf": "0",
        }
        for i, frame in enumerate(inp.decode(vs)):
            if i >= seconds * fps:
                break
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for pkt in ost.encode(frame):
                out.mux(pkt)
        for pkt in ost.encode(None):
            out.mux(pkt)
    return dst


@pytest.fixture(scope="session")
def h264_file(vtest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of vtest as H.264 (768x576, 10 fps, keyframe every second)."""
    return make_h264(vtest, tmp_path_factory.mktemp("video") / "vtest4s.mp4", 4)


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A TCP server that answers every connection with junk: rtsp://127.0.0.1:PORT/cam."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        junk = bytes(range(256)) * 64
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                conn.settimeout(1)
                for _ in range(20):
                    conn.sendall(junk)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"rtsp://127.0.0.1:{srv.getsockname()[1]}/cam"
    stop.set()
    thread.join(2)
    srv.close()


class MjpegCamera(http.server.BaseHTTPRequestHandler):
    """An HTTP MJPEG camera; subclasses give `parts()`, the bytes sent after the headers."""

    def log_message(self, *args: object) -> None:
        pass

    def parts(self) -> Iterator[bytes]:
        raise NotImplementedError

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for part in self.parts():
                self.wfile.write(part)
                self.wfile.flush()
        except OSError:  # the client went away
            pass


def mjpeg_part(jpg: bytes) -> bytes:
    """One JPEG of a multipart/x-mixed-replace stream (boundary `frame`)."""
    return (
        b"--frame\r\nContent-Type: image/jpeg\r\n"
        + f"Content-Length: {len(jpg)}\r\n\r\n".encode()
        + jpg
        + b"\r\n"
    )


def serve_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threading HTTP server on loopback for the duration: yields its port."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def wait_for(cond: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return bool(cond())


def decode_all(path: Path) -> int:
    """Decode every frame of a video file; return the count (raises if it cannot be read)."""
    n = 0
    with av.open(str(path)) as c:
        for _ in c.decode(c.streams.video[0]):
            n += 1
    return n


def add_footage(
    db: Database, data_dir: Path, clip: Path, camera: str, start: datetime, n: int, step_s: float
) -> list[int]:
    """n complete segments of `camera` from `start`, one every `step_s`, as real files."""
    ids = []
    for i in range(n):
        t = start + timedelta(seconds=i * step_s)
        rel = segment_relpath(camera, t)
        path = recordings_dir(data_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, path)
        seg_id = add_segment(db, camera, t, rel)
        set_segment(
            db,
            seg_id,
            end=t + timedelta(seconds=step_s),
            size=path.stat().st_size,
            keyframes=[0.0],
            complete=True,
        )
        ids.append(seg_id)
    return ids
