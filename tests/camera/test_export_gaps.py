"""Exports across gaps (issue 12): an RTSP outage (the server stopped and started again on the
same port while recording) and a hole inside a looped file. Exact, remux and redacted clips
keep the real frame timestamps (the gap stays a gap, no two frames share a time) and their
manifest lists the gap; before, a redacted export failed ("non monotonically increasing dts")."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from tests.camera.conftest import _start_server, wait_for
from vigil.camera.export import export_clip
from vigil.camera.index import camera_segments, coverage
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.cli import app
from vigil.config import CameraConfig
from vigil.process import free_port
from vigil.store.db import Database

HOLE_S = 2.0  # the hole inside the looped file


@dataclass
class Gappy:
    data_dir: Path
    db: Database
    config: Path
    outage: tuple[datetime, datetime]  # the gap in camera `gate`'s index


def _file_with_hole(src: Path, dst: Path, fps: int = 10) -> Path:
    """3 s of `src`, a 2 s hole in the timestamps, 3 s more (H.264, a keyframe a second)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vs = inp.streams.video[0]
        ost = out.add_stream("libx264", rate=fps)
        ost.width, ost.height = vs.codec_context.width, vs.codec_context.height
        ost.pix_fmt = "yuv420p"
        ost.codec_context.time_base = Fraction(1, fps)
        ost.options = {"g": "10", "keyint_min": "10", "sc_threshold": "0", "bf": "0"}
        for i, frame in enumerate(inp.decode(vs)):
            if i >= 6 * fps:
                break
            frame = frame.reformat(format="yuv420p")
            frame.pts = i + (int(HOLE_S * fps) if i >= 3 * fps else 0)
            frame.time_base = Fraction(1, fps)
            for pkt in ost.encode(frame):
                out.mux(pkt)
        for pkt in ost.encode(None):
            out.mux(pkt)
    return dst


@pytest.fixture(scope="module")
def gappy(rtsp_available: None, vtest: Path, tmp_path_factory) -> Iterator[Gappy]:
    root = tmp_path_factory.mktemp("gaps")
    data_dir = root / "var"
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    holed = _file_with_hole(vtest, root / "holed.mp4")
    port = free_port()
    args = ["--port", str(port), "--file", str(vtest)]
    srv = _start_server(args)
    cams = [
        CameraConfig(name="gate", url=srv.url, segment_seconds=3),
        CameraConfig(name="loop", url=str(holed), loop=True, segment_seconds=30),
    ]
    svc = RecordingService(cams, data_dir, db, RecorderOptions(io_timeout_s=1.0, backoff_max_s=1.0))
    svc.start()
    try:
        assert wait_for(lambda: len(camera_segments(db, "gate")) >= 2, 20)
        time.sleep(1.5)
        srv.stop()  # the outage
        time.sleep(3.0)
        for _ in range(20):  # the port can take a moment to free
            try:
                srv = _start_server(args)
                break
            except RuntimeError:
                time.sleep(0.25)
        n = len(camera_segments(db, "gate"))
        assert wait_for(lambda: len(camera_segments(db, "gate")) >= n + 2, 25)
        assert wait_for(
            lambda: (
                (camera_segments(db, "loop")[-1].end - camera_segments(db, "loop")[0].start)
                > timedelta(seconds=9)
            ),
            20,
        )
    finally:
        svc.stop()
        srv.stop()
    gaps = coverage(camera_segments(db, "gate")).gaps
    assert len(gaps) == 1, gaps
    cfg = root / "vigil.yaml"
    cfg.write_text(
        f"storage:\n  data_dir: {data_dir}\ncameras:\n"
        f"  - name: gate\n    url: {srv.url}\n    segment_seconds: 3\n"
        f"  - name: loop\n    url: {holed}\n    loop: true\n    segment_seconds: 30\n"
    )
    yield Gappy(data_dir, db, cfg, gaps[0])
    db.close()


def _times(path: Path) -> list[float]:
    """Presentation times (s) of the decoded frames, in order."""
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(c.streams.video[0])]


def _check_gap(times: list[float], gap_s: float, duration_s: float) -> None:
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert min(steps) > 0, "two frames share a timestamp"
    big = [s for s in steps if s > 0.5]
    assert len(big) == 1, steps  # the gap, once
    assert big[0] == pytest.approx(gap_s, abs=0.35)
    assert times[-1] - times[0] == pytest.approx(duration_s, abs=0.35)
    assert max(s for s in steps if s <= 0.5) < 0.25  # 10 fps elsewhere, no frame doubled


def _cli(g: Gappy, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["-c", str(g.config), *args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return 99, f"{res.stdout}{res.exception!r}"
    return res.exit_code, res.stdout


def _range(g: Gappy) -> tuple[datetime, datetime]:
    a, b = g.outage
    return a - timedelta(seconds=2.5), b + timedelta(seconds=2.5)


@pytest.mark.parametrize("exact", [False, True], ids=["remux", "exact"])
def test_export_across_an_rtsp_outage(gappy: Gappy, tmp_path: Path, exact: bool) -> None:
    t0, t1 = _range(gappy)
    out = tmp_path / "clip.mp4"
    res = export_clip(gappy.db, gappy.data_dir, "gate", t0, t1, out, exact=exact)
    gap_s = (gappy.outage[1] - gappy.outage[0]).total_seconds()
    assert gap_s > 1.5
    [(a, b)] = res.gaps
    assert abs((a - gappy.outage[0]).total_seconds()) < 0.3
    assert abs((b - gappy.outage[1]).total_seconds()) < 0.3
    assert not res.complete and res.account()["gaps"][0]["seconds"] == pytest.approx(gap_s, 0.1)
    times = _times(out)
    _check_gap(times, gap_s, res.duration_s - 0.1)


def test_redacted_export_across_an_rtsp_outage(gappy: Gappy, tmp_path: Path) -> None:
    t0, t1 = _range(gappy)
    out = tmp_path / "red.mp4"
    code, text = _cli(
        gappy, "export", "gate", "--from", t0.isoformat(), "--to", t1.isoformat(), "-o",
        str(out), "-r", "incident 9", "--redact", "--redact-every", "5", "--json",
    )  # fmt: skip
    assert code == 0, text
    info = json.loads(text)
    gap_s = (gappy.outage[1] - gappy.outage[0]).total_seconds()
    manifest = json.loads(Path(info["manifest"]).read_text())
    assert manifest["kind"] == "redacted_clip"
    [gap] = manifest["footage"]["gaps"]
    assert gap["seconds"] == pytest.approx(gap_s, 0.1) and manifest["footage"]["complete"] is False
    _check_gap(_times(out), gap_s, info["duration_s"] - 0.1)
    code, text = _cli(
        gappy, "export", "gate", "--from", t0.isoformat(), "--to", t1.isoformat(), "-o",
        str(tmp_path / "red2.mp4"), "-r", "incident 9", "--redact", "--redact-every", "5",
    )  # fmt: skip
    assert code == 0 and "gap:" in text and "incomplete" in text, text


def test_exports_across_a_hole_in_a_looped_file(gappy: Gappy, tmp_path: Path) -> None:
    segs = camera_segments(gappy.db, "loop")
    assert not coverage(segs).gaps  # the index sees no gap: the hole is inside a segment
    t0 = segs[0].start + timedelta(seconds=1)
    t1 = t0 + timedelta(seconds=6.5)  # 2 s of footage, the hole, 2.5 s more
    res = export_clip(gappy.db, gappy.data_dir, "loop", t0, t1, tmp_path / "plain.mp4")
    [(a, b)] = res.gaps
    assert (b - a).total_seconds() == pytest.approx(HOLE_S, abs=0.35)
    _check_gap(_times(tmp_path / "plain.mp4"), HOLE_S, res.duration_s - 0.1)
    out = tmp_path / "red.mp4"
    code, text = _cli(
        gappy, "export", "loop", "--from", t0.isoformat(), "--to", t1.isoformat(), "-o",
        str(out), "-r", "incident 10", "--redact", "--redact-every", "5", "--json",
    )  # fmt: skip
    assert code == 0, text
    manifest = json.loads(Path(json.loads(text)["manifest"]).read_text())
    [gap] = manifest["footage"]["gaps"]
    assert gap["seconds"] == pytest.approx(HOLE_S, abs=0.35)
    _check_gap(_times(out), HOLE_S, res.duration_s - 0.1)
