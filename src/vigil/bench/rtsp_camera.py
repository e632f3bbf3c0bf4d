#!/usr/bin/python3
"""A test camera: a real RTSP server (GStreamer) for the tests and the benchmarks.

Run with the *system* python (python3-gi + gir1.2-gst-rtsp-server-1.0), not the venv; it
imports nothing of Vigil and needs no numpy. The picture is one of:
- by default, the wall-clock time each frame was made, drawn as black/white blocks on grey
  (`vigil.bench.timecode` reads it; `--busy` adds stripes moving across the rest);
- `--file PATH`: a video file (anything decodebin reads) decoded at real-time speed and looped
  forever, at its own size and rate unless `--width/--height/--fps` say otherwise.
A thread pushes each I420 frame live into `appsrc ! x264enc tune=zerolatency ! rtph264pay`
(`--codec h265`: x265enc and rtph265pay), so
timestamps keep increasing across loops and the stream never ends. The factory is shared (one
encoder, like a camera); frames are made only while a client is connected, a file from its
start for each new session. `--user/--password` require RTSP basic auth. Prints exactly one
line `READY rtsp://HOST:PORT/MOUNT` (flushed) once bound (`--port 0`: the OS picks; read it
there); exits 0 on SIGTERM/SIGINT, 2 when the port is taken, 1 when the file cannot be read.
"""

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

# Keep in step with vigil.bench.timecode (the reader): 40 bits in 4 rows of 10 blocks, starting
# at (MARGIN, MARGIN); bits 0-31 = milliseconds mod 2**32 (most significant first), bits 32-39 =
# checksum.
COLS, ROWS, BLOCK, MARGIN = 10, 4, 40, 8
WHITE, BLACK, GREY = 235, 16, 128


def checksum(ms: int) -> int:
    b = ms.to_bytes(4, "big")
    return (b[0] * 1 + b[1] * 3 + b[2] * 7 + b[3] * 13 + 0x5A) & 0xFF


def bits_of(ms: int) -> list[int]:
    code = ((ms & 0xFFFFFFFF) << 8) | checksum(ms & 0xFFFFFFFF)
    return [(code >> (39 - i)) & 1 for i in range(40)]


def luma_plane(width: int, height: int, ms: int, busy_shift: int | None = None) -> bytes:
    """The Y plane: the time code on grey; with `busy_shift`, stripes moving across the rest of
    the frame (motion everywhere, so the analyzer's detectors scan most of the frame)."""
    bits = bits_of(ms)
    grey_row = bytes([GREY]) * width
    rows = [grey_row * MARGIN]
    for r in range(ROWS):
        row = bytearray(grey_row)
        for c in range(COLS):
            x = MARGIN + c * BLOCK
            row[x : x + BLOCK] = bytes([WHITE if bits[r * COLS + c] else BLACK]) * BLOCK
        rows.append(bytes(row) * BLOCK)
    rest = height - MARGIN - ROWS * BLOCK
    if busy_shift is None:
        rows.append(grey_row * rest)
    else:
        stripes = (bytes([60]) * 24 + bytes([200]) * 24) * (width // 48 + 2)
        x = busy_shift % 48
        rows.append(grey_row * MARGIN + stripes[x : x + width] * (rest - MARGIN))
    return b"".join(rows)


class TimeCode:
    """Frames showing the time they were made."""

    def __init__(self, width: int, height: int, busy: bool) -> None:
        self.width, self.height, self.busy = width, height, busy
        self.chroma = bytes([128]) * (width * height // 2)
        self.n = 0

    def next(self) -> bytes:
        shift = self.n * 6 if self.busy else None
        self.n += 1
        return luma_plane(self.width, self.height, int(time.time() * 1000), shift) + self.chroma

    def close(self) -> None:
        pass


class FileFrames:
    """Decoded I420 frames of a file, from its start, looping forever: a pipeline ending in an
    appsink that `next()` pulls from, seeking back to the start at each end of the file."""

    def __init__(self, path: str, width: int | None, height: int | None, fps: int | None):
        caps = "video/x-raw,format=I420"
        caps += f",width={width},height={height}" if width and height else ""
        caps += f",framerate={fps}/1" if fps else ""
        self.pipeline = Gst.parse_launch(
            "filesrc name=file ! decodebin ! videoconvert ! videoscale ! videorate ! "
            f"{caps} ! appsink name=out sync=false max-buffers=4"
        )
        self.pipeline.get_by_name("file").set_property("location", path)
        self.sink = self.pipeline.get_by_name("out")
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            error = self.pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
            self.close()
            raise OSError(error.parse_error()[0].message if error else "cannot play it")
        self.first = self._pull(first=True)
        s = self.first.get_caps().get_structure(0)
        self.width, self.height = s.get_value("width"), s.get_value("height")
        ok, num, den = s.get_fraction("framerate")
        self.rate = (num, den) if ok and num > 0 and den > 0 else (10, 1)

    def _pull(self, first: bool = False) -> Gst.Sample:
        for _ in range(2):  # an end of file: back to the start, once
            sample = self.sink.emit("try-pull-sample", 10 * Gst.SECOND)
            if sample is not None:
                return sample
            if first or not self.sink.get_property("eos"):
                break
            self.pipeline.seek_simple(
                Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0
            )
        raise OSError("the file gave no frame (not a video, or unreadable)")

    def next(self) -> bytes:
        if self.first is not None:
            sample, self.first = self.first, None
        else:
            sample = self._pull()
        buf = sample.get_buffer()
        return buf.extract_dup(0, buf.get_size())

    def close(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)


class Feeder:
    """Pushes a source's frames into one media's appsrc in real time until the media goes.

    The source is made on the feeder's thread: opening a file (decodebin's preroll) inside
    `media-configure` would hold up the server's main loop, and every client with it."""

    def __init__(self, appsrc: Gst.Element, make: Callable[[], TimeCode | FileFrames], fps: float):
        self.appsrc, self.make, self.fps = appsrc, make, fps
        self.stop = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        try:
            self.frames = self.make()
        except (OSError, GLib.Error) as exc:
            print(f"source error: {exc}", file=sys.stderr, flush=True)
            self.appsrc.emit("end-of-stream")
            return
        period = 1.0 / self.fps
        next_t = time.monotonic()
        try:
            while not self.stop.is_set():
                try:
                    data = self.frames.next()
                except OSError as exc:
                    print(f"source error: {exc}", file=sys.stderr, flush=True)
                    self.appsrc.emit("end-of-stream")
                    return
                buf = Gst.Buffer.new_wrapped(data)
                if self.appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                    return
                next_t += period
                self.stop.wait(max(0.0, next_t - time.monotonic()))
        finally:
            self.frames.close()


def require_basic_auth(
    server: GstRtspServer.RTSPServer, factory: GstRtspServer.RTSPMediaFactory, user: str, pw: str
) -> None:
    """Only `user`:`pw` may open the factory's media; anyone else gets 401."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, pw), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    for what in ("media.factory.access", "media.factory.construct"):
        permissions.add_permission_for_role("viewer", what, True)
    factory.set_permissions(permissions)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--mount", default="/cam")
    ap.add_argument("--file", help="video file to loop forever (default: the time code)")
    ap.add_argument("--width", type=int, help="default: the file's, else 640")
    ap.add_argument("--height", type=int, help="default: the file's, else 360")
    ap.add_argument("--fps", type=int, help="default: the file's, else 15")
    ap.add_argument("--keyint", type=float, default=1.0, help="seconds between keyframes")
    ap.add_argument("--bitrate", type=int, default=1000, help="kbit/s")
    ap.add_argument("--codec", choices=["h264", "h265"], default="h264")
    ap.add_argument("--busy", action="store_true", help="moving stripes below the time code")
    ap.add_argument("--user", help="require RTSP basic auth with this user ...")
    ap.add_argument("--password", default="", help="... and this password")
    a = ap.parse_args()

    Gst.init(None)
    loop = GLib.MainLoop()
    if a.file:
        try:  # the file's size and rate, read once; each session opens it anew
            probe = FileFrames(a.file, a.width, a.height, a.fps)
        except (OSError, GLib.Error) as exc:
            print(f"ERROR cannot read {a.file}: {exc}", file=sys.stderr, flush=True)
            sys.exit(1)
        width, height, rate = probe.width, probe.height, probe.rate
        probe.close()
    else:
        width, height, rate = a.width or 640, a.height or 360, (a.fps or 15, 1)
    fps = rate[0] / rate[1]
    caps = f"video/x-raw,format=I420,width={width},height={height},framerate={rate[0]}/{rate[1]}"
    keyint = max(1, round(a.keyint * fps))
    # config-interval=0: x264 writes SPS/PPS before each IDR (see the RTSP recipe's gotcha).
    # A file's frames are re-stamped by videorate at exact multiples of the frame period, so
    # keyframes come exactly `--keyint` apart, as from a camera's own clock (the thread's
    # wake-up jitter would make a 2 s segment 1.999 s, cut a keyframe later). The time code
    # keeps the push time: videorate holds a frame back, which the glass-to-viewer delay
    # would count.
    regular = f"videorate ! {caps} ! " if a.file else ""
    encode = (
        f"x264enc tune=zerolatency speed-preset=ultrafast bitrate={a.bitrate} "
        f"key-int-max={keyint} ! video/x-h264,profile=baseline ! "
        "rtph264pay name=pay0 pt=96 config-interval=0"
        if a.codec == "h264"
        # x265 writes its parameter sets once: the payloader repeats them before each IDR
        else f"x265enc tune=zerolatency speed-preset=ultrafast bitrate={a.bitrate} "
        f"key-int-max={keyint} ! rtph265pay name=pay0 pt=96 config-interval=-1"
    )
    launch = (
        f'( appsrc name=glass is-live=true do-timestamp=true format=time caps="{caps}" ! '
        f"{regular}{encode} )"
    )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)

    def configured(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia):
        appsrc = media.get_element().get_by_name("glass")
        file = a.file
        if file:
            feeder = Feeder(appsrc, lambda: FileFrames(file, a.width, a.height, a.fps), fps)
        else:
            feeder = Feeder(appsrc, lambda: TimeCode(width, height, a.busy), fps)
        media.connect("unprepared", lambda *_: feeder.stop.set())

    factory.connect("media-configure", configured)
    server = GstRtspServer.RTSPServer()
    server.set_address(a.host)
    server.set_service(str(a.port))
    if a.user:
        require_basic_auth(server, factory, a.user, a.password)
    server.get_mount_points().add_factory(a.mount, factory)
    if server.attach(None) == 0:
        print(f"ERROR could not bind {a.host}:{a.port}", file=sys.stderr, flush=True)
        sys.exit(2)

    def stop() -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)
    print(f"READY rtsp://{a.host}:{server.get_bound_port()}{a.mount}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
