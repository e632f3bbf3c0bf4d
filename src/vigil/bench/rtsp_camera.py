#!/usr/bin/python3
"""RTSP camera for the glass-to-browser figure: every frame shows the wall-clock time it was made.

Run with the *system* python (python3-gi + gir1.2-gst-rtsp-server-1.0), not the venv; it
imports nothing of Vigil and needs no numpy. A thread makes each I420 frame live (mid-grey, with
the time code of `time.time()` at that instant drawn as black/white blocks, see
`vigil.bench.timecode` for the layout) and pushes it into `appsrc ! x264enc tune=zerolatency !
rtph264pay`. The factory is shared (one encoder, like a camera); frames are made only while a
client is connected. Prints `READY rtsp://HOST:PORT/MOUNT` when bound.
"""

import argparse
import signal
import sys
import threading
import time

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


class Feeder:
    """Pushes live frames into one media's appsrc until it goes away."""

    def __init__(self, appsrc: Gst.Element, width: int, height: int, fps: float, busy: bool):
        self.appsrc, self.width, self.height, self.fps = appsrc, width, height, fps
        self.busy = busy
        self.chroma = bytes([128]) * (width * height // 2)
        self.stop = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        period = 1.0 / self.fps
        next_t = time.monotonic()
        n = 0
        while not self.stop.is_set():
            ms = int(time.time() * 1000)
            shift = n * 6 if self.busy else None
            data = luma_plane(self.width, self.height, ms, shift) + self.chroma
            n += 1
            if self.appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(data)) != Gst.FlowReturn.OK:
                return
            next_t += period
            self.stop.wait(max(0.0, next_t - time.monotonic()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--mount", default="/cam")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--keyint", type=float, default=1.0, help="seconds between keyframes")
    ap.add_argument("--bitrate", type=int, default=1000, help="kbit/s")
    ap.add_argument("--busy", action="store_true", help="moving stripes below the time code")
    a = ap.parse_args()

    Gst.init(None)
    loop = GLib.MainLoop()
    caps = f"video/x-raw,format=I420,width={a.width},height={a.height},framerate={a.fps}/1"
    keyint = max(1, round(a.keyint * a.fps))
    # config-interval=0: x264 writes SPS/PPS before each IDR (see the RTSP recipe's gotcha).
    launch = (
        f'( appsrc name=glass is-live=true do-timestamp=true format=time caps="{caps}" ! '
        f"x264enc tune=zerolatency speed-preset=ultrafast bitrate={a.bitrate} "
        f"key-int-max={keyint} ! video/x-h264,profile=baseline ! "
        "rtph264pay name=pay0 pt=96 config-interval=0 )"
    )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)

    def configured(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia):
        appsrc = media.get_element().get_by_name("glass")
        feeder = Feeder(appsrc, a.width, a.height, a.fps, a.busy)
        media.connect("unprepared", lambda *_: feeder.stop.set())

    factory.connect("media-configure", configured)
    server = GstRtspServer.RTSPServer()
    server.set_address(a.host)
    server.set_service(str(a.port))
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
