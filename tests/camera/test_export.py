"""Clip export across segment boundaries (remux and exact), and the camera CLI on real footage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from tests.camera.conftest import _start_server, decode_all, wait_for
from vigil.camera.export import NoFootageError, export_clip
from vigil.camera.index import (
    camera_segments,
    coverage,
    probe_segment,
    recordings_dir,
    trim_to_last_fragment,
)
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.cli import app
from vigil.config import CameraConfig
from vigil.errors import InputError
from vigil.store.db import Database

FRAME = 0.1  # the test stream runs at 10 fps with a keyframe every second


@dataclass
class Footage:
    data_dir: Path
    db: Database
    config: Path
    start: datetime
    end: datetime
    rtsp_url: str


@pytest.fixture(scope="module")
def footage(rtsp_available: None, vtest: Path, tmp_path_factory) -> Iterator[Footage]:
    """About 8 s of one camera in 3 s segments, recorded once for this module."""
    data_dir = tmp_path_factory.mktemp("footage") / "var"
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    srv = _start_server(["--port", "0", "--file", str(vtest)])
    try:
        svc = RecordingService(
            [CameraConfig(name="lobby", url=srv.url, segment_seconds=3)],
            data_dir,
            db,
            RecorderOptions(io_timeout_s=1.0, status_interval_s=0.5),
        )
        svc.start()
        try:
            assert wait_for(lambda: svc.statuses()[0].segments_written >= 2, 20)
            assert wait_for(lambda: len(camera_segments(db, "lobby")) >= 3, 5)
            assert wait_for(
                lambda: (
                    (datetime.now(UTC) - camera_segments(db, "lobby")[-1].start)
                    > timedelta(seconds=2)
                ),
                5,
            )
        finally:
            svc.stop()
        cfg = data_dir.parent / "vigil.yaml"
        cfg.write_text(
            f"storage:\n  data_dir: {data_dir}\ncameras:\n"
            f"  - name: lobby\n    url: {srv.url}\n    segment_seconds: 3\n"
        )
        segs = camera_segments(db, "lobby")
        span = coverage(segs, tolerance_s=0.15).spans
        assert len(span) == 1
        yield Footage(data_dir, db, cfg, span[0][0], span[0][1], srv.url)
    finally:
        srv.stop()


def _duration(path: Path) -> float:
    return probe_segment(path).duration


@pytest.mark.timeout(60)
def test_remux_across_segments_is_keyframe_aligned(footage: Footage, tmp_path: Path) -> None:
    t0 = footage.start + timedelta(seconds=1.55)  # inside the first segment, between keyframes
    t1 = footage.start + timedelta(seconds=7.25)  # inside the third segment
    out = tmp_path / "clip.mp4"
    res = export_clip(footage.db, footage.data_dir, "lobby", t0, t1, out)
    assert res.mode == "remux" and res.segments == 3 and not res.gaps
    assert out.is_file() and decode_all(out) == res.frames
    want = (t1 - t0).total_seconds()
    got = _duration(out)
    # starts at the keyframe at or before the start: at most one keyframe interval early
    assert res.start <= t0 and (t0 - res.start).total_seconds() <= 1.0 + 1e-3
    assert want - FRAME <= got <= want + 1.0 + FRAME, (want, got)
    assert abs(got - res.duration_s) < FRAME + 1e-3
    with av.open(str(out)) as c:
        first = next(c.demux(c.streams.video[0]))
        assert first.is_keyframe


@pytest.mark.timeout(60)
def test_exact_export_matches_the_request(footage: Footage, tmp_path: Path) -> None:
    t0 = footage.start + timedelta(seconds=1.55)
    t1 = footage.start + timedelta(seconds=6.85)
    out = tmp_path / "exact.mp4"
    progress: list[float] = []
    res = export_clip(
        footage.db, footage.data_dir, "lobby", t0, t1, out, exact=True, progress=progress.append
    )
    assert res.mode == "exact" and res.segments == 3
    want = (t1 - t0).total_seconds()
    got = _duration(out)
    assert abs(got - want) <= 2 * FRAME, (want, got)
    assert abs(decode_all(out) - round(want / FRAME)) <= 2
    assert progress and progress[-1] == 1.0
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"


def test_ranges_without_footage_fail_clearly(footage: Footage, tmp_path: Path) -> None:
    out = tmp_path / "none.mp4"
    before = footage.start - timedelta(hours=2)
    with pytest.raises(NoFootageError) as err:
        export_clip(
            footage.db, footage.data_dir, "lobby", before, before + timedelta(minutes=5), out
        )
    assert "no footage" in err.value.message and "recorded footage" in (err.value.hint or "")
    with pytest.raises(NoFootageError, match="no recorded footage"):
        export_clip(footage.db, footage.data_dir, "attic", footage.start, footage.end, out)
    with pytest.raises(InputError, match="ends before it starts"):
        export_clip(footage.db, footage.data_dir, "lobby", footage.end, footage.start, out)
    assert not out.exists() and not list(tmp_path.glob(".*part"))


def test_partly_covered_range_reports_the_gap(footage: Footage, tmp_path: Path) -> None:
    t0 = footage.end - timedelta(seconds=2)
    t1 = footage.end + timedelta(seconds=30)
    res = export_clip(footage.db, footage.data_dir, "lobby", t0, t1, tmp_path / "tail.mp4")
    assert res.end <= footage.end + timedelta(seconds=FRAME)
    assert 1.0 <= res.duration_s <= 3.1


def test_trim_cuts_a_torn_fragment(footage: Footage, tmp_path: Path) -> None:
    seg = camera_segments(footage.db, "lobby")[0]
    src = recordings_dir(footage.data_dir) / seg.path
    torn = tmp_path / "torn.mp4"
    data = src.read_bytes()
    torn.write_bytes(data[: len(data) - 5000])  # the last fragment loses its tail
    removed = trim_to_last_fragment(torn)
    assert removed > 0
    assert decode_all(torn) >= 9  # whole GOPs before the torn one still play
    assert trim_to_last_fragment(torn) == 0  # idempotent
    assert trim_to_last_fragment(src) == 0  # a complete file is left alone


# --- CLI ------------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args), catch_exceptions=True)
    out = res.output
    if res.exception and not isinstance(res.exception, SystemExit):
        from vigil.errors import VigilError

        if isinstance(res.exception, VigilError):
            return 99, res.exception.message
        raise res.exception
    return res.exit_code, out


def test_cli_export_and_status(footage: Footage, tmp_path: Path) -> None:
    out = tmp_path / "cli.mp4"
    t0 = (footage.start + timedelta(seconds=1)).isoformat()
    t1 = (footage.start + timedelta(seconds=4)).isoformat()
    code, text = _cli(
        "-c",
        str(footage.config),
        "export",
        "lobby",
        "--from",
        t0,
        "--to",
        t1,
        "-o",
        str(out),
        "--reason",
        "incident 114: handed to the police",
        "--json",
    )
    assert code == 0, text
    info = json.loads(text)
    assert info["mode"] == "remux" and Path(info["path"]) == out and out.is_file()
    assert 2.9 <= info["duration_s"] <= 4.1
    code, text = _cli("-c", str(footage.config), "cameras", "status", "--json")
    assert code == 0, text
    status = json.loads(text)
    assert status["recorder_running"] is False  # the recorder of the fixture has stopped
    assert status["cameras"][0]["name"] == "lobby"
    assert status["footage"]["lobby"]["segments"] >= 3
    code, text = _cli("-c", str(footage.config), "cameras", "list", "--json")
    assert code == 0 and json.loads(text)[0]["kind"] == "rtsp"
    code, text = _cli(
        "-c",
        str(footage.config),
        "export",
        "lobby",
        "--from",
        "yesterday",
        "--to",
        t1,
        "-o",
        str(out),
        "-r",
        "x",
    )
    assert code == 99 and "not an ISO time" in text
    code, text = _cli(
        "-c",
        str(footage.config),
        "export",
        "lobby",
        "--from",
        t0,
        "--to",
        t1,
        "-o",
        str(tmp_path / "no-reason.mp4"),
        "-r",
        " ",
    )
    assert code == 99 and "reason" in text and not (tmp_path / "no-reason.mp4").exists()
    code, text = _cli("-c", str(footage.config), "audit", "show", "--action", "export", "--json")
    assert json.loads(text)[0]["reason"] == "incident 114: handed to the police"


def test_cli_probe(footage: Footage, h264_file: Path) -> None:
    code, text = _cli("cameras", "probe", str(h264_file), "--json", "--seconds", "0.5")
    assert code == 0, text
    info = json.loads(text)
    assert info["codec"] == "h264" and info["width"] == 768 and info["packets"] > 0
    code, text = _cli("cameras", "probe", "rtsp://127.0.0.1:1/cam", "--timeout", "1")
    assert code == 99 and "connection refused" in text
