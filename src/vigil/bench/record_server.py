#!/usr/bin/python3
"""RTSP server for `vigil bench record`: serves a pre-encoded H.264 MP4 without re-encoding.

Run with the *system* python (python3-gi + gir1.2-gst-rtsp-server-1.0), not the venv; it
imports nothing of Vigil. Each mount (`--mount`, repeatable) is a shared factory
`filesrc ! qtdemux ! h264parse ! rtph264pay`: one demuxer per mount, however many clients,
and its own pipeline, so each benchmark phase gets the file from its start. The file plays in
real time; make it longer than a phase (it is not looped: a looped demuxer would need
timestamp rewriting, and a phase lasts seconds). Prints `READY rtsp://HOST:PORT` when bound.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True, help="H.264 MP4 to serve")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--mount", action="append", default=[], help="e.g. /a (repeatable)")
    a = ap.parse_args()

    Gst.init(None)
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address(a.host)
    server.set_service(str(a.port))
    # config-interval=0: SPS/PPS travel in the SDP (sprop-parameter-sets); see the recipe's
    # gotcha on multi-slice keyframes.
    launch = (
        f'( filesrc location="{a.file}" ! qtdemux ! h264parse ! '
        "rtph264pay name=pay0 pt=96 config-interval=0 )"
    )
    for mount in a.mount or ["/cam"]:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
        server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        print(f"ERROR could not bind {a.host}:{a.port}", file=sys.stderr, flush=True)
        sys.exit(2)

    def stop() -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)
    print(f"READY rtsp://{a.host}:{server.get_bound_port()}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
