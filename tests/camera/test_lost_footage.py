"""Damage is noticed (issue 12): a checksum per segment, taken while writing; a scrub that
finds a segment overwritten later; exports that say what they could not give; a deleted file
that stays in status, through retention passes, until someone acknowledges it (audited)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.camera.conftest import _start_server, wait_for
from vigil.camera.checksum import StreamHash, list_problems
from vigil.camera.footage_retention import run_retention
from vigil.camera.index import camera_segments, recordings_dir
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.cli import app
from vigil.config import CameraConfig, RecordingConfig
from vigil.store.db import Database


@dataclass
class Site:
    data_dir: Path
    db: Database
    config: Path


@pytest.fixture(scope="module")
def site(rtsp_available: None, vtest: Path, tmp_path_factory) -> Iterator[Site]:
    """About 10 s of camera `lobby` from a real RTSP server, in 2 s segments."""
    data_dir = tmp_path_factory.mktemp("lost") / "var"
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    srv = _start_server(["--port", "0", "--file", str(vtest)])
    try:
        svc = RecordingService(
            [CameraConfig(name="lobby", url=srv.url, segment_seconds=2)],
            data_dir,
            db,
            RecorderOptions(io_timeout_s=1.0, status_interval_s=0.5),
        )
        svc.start()
        try:
            assert wait_for(lambda: sum(s.complete for s in camera_segments(db, "lobby")) >= 4, 30)
        finally:
            svc.stop()
    finally:
        srv.stop()
    cfg = data_dir.parent / "vigil.yaml"
    cfg.write_text(
        f"storage:\n  data_dir: {data_dir}\ncameras:\n"
        f"  - name: lobby\n    url: {srv.url}\n    segment_seconds: 2\n"
    )
    yield Site(data_dir, db, cfg)
    db.close()


def _cli(site: Site, *args: str) -> tuple[int, str]:
    """Exit code and what the command printed (stdout only: logs go to stderr)."""
    res = CliRunner().invoke(app, ["-c", str(site.config), *args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return 99, f"{res.stdout}{res.exception!r}"
    return res.exit_code, res.stdout


def test_checksum_is_taken_while_writing(site: Site) -> None:
    segs = [s for s in camera_segments(site.db, "lobby") if s.complete]
    assert len(segs) >= 4
    root = recordings_dir(site.data_dir)
    for seg in segs:
        assert seg.sha256 == hashlib.sha256((root / seg.path).read_bytes()).hexdigest()


def test_stream_hash_refuses_a_rewritten_file() -> None:
    h = StreamHash()
    h.wrote(0, b"abcd")
    h.wrote(4, b"efgh")
    assert h.hexdigest(8) == hashlib.sha256(b"abcdefgh").hexdigest()
    assert h.hexdigest(9) is None  # the file is longer than what was fed
    h.wrote(0, b"ABCD")  # the muxer went back: the running hash no longer holds
    assert h.hexdigest(8) is None


def test_overwritten_segment_is_found_shown_and_stated_by_exports(
    site: Site, tmp_path: Path
) -> None:
    segs = [s for s in camera_segments(site.db, "lobby") if s.complete]
    bad = segs[2]
    path = recordings_dir(site.data_dir) / bad.path
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = bytes(4096)  # the middle overwritten, size unchanged
    path.write_bytes(bytes(data))
    # Nothing notices it yet: the index still has the segment as complete.
    code, text = _cli(site, "retention", "status", "--json")
    assert code == 0 and json.loads(text)["lost_footage"] == []

    code, text = _cli(site, "segments", "scrub", "--json", "--rate", "0")
    assert code == 4, text  # damage found
    report = json.loads(text)
    assert report["damaged"] == [bad.path] and report["verified"] >= 3
    # a second scrub records it once
    code, text = _cli(site, "segments", "scrub", "--json")
    assert code == 0 and json.loads(text)["damaged_count"] == 0

    code, text = _cli(site, "retention", "status")
    assert code == 0 and "damaged" in text and bad.path in text
    code, text = _cli(site, "cameras", "status", "--json")
    assert json.loads(text)["lost_footage"]["lobby"] == {"missing": 0, "damaged": 1}
    code, text = _cli(site, "cameras", "status")
    assert "0 missing, 1 damaged" in text

    # An unredacted export over it: the clip comes out, and it says what is wrong.
    t0, t1 = segs[1].start + timedelta(seconds=0.5), segs[3].end - timedelta(seconds=0.3)
    out = tmp_path / "clip.mp4"
    args = ["export", "lobby", "--from", t0.isoformat(), "--to", t1.isoformat(), "-o", str(out)]
    args += ["--original"]  # redacted is the default
    code, text = _cli(site, *args, "-r", "incident 7: gate", "--json")
    assert code == 0, text
    info = json.loads(text)
    assert info["footage"]["complete"] is False
    assert [d["segment"] for d in info["footage"]["damaged_segments"]] == [bad.path]
    assert any(w.startswith("damaged: segment " + bad.path) for w in info["warnings"])
    manifest = json.loads(Path(info["manifest"]).read_text())
    assert manifest["footage"]["complete"] is False
    assert manifest["footage"]["damaged_segments"][0]["segment"] == bad.path
    assert manifest["footage"]["requested_s"] == pytest.approx((t1 - t0).total_seconds(), 0.01)
    code, text = _cli(site, *args, "-r", "incident 7: gate")
    assert code == 0 and "incomplete" in text and f"damaged: segment {bad.path}" in text


def test_deleted_file_stays_in_status_until_acknowledged(site: Site) -> None:
    segs = [s for s in camera_segments(site.db, "lobby") if s.complete]
    gone = segs[0]
    (recordings_dir(site.data_dir) / gone.path).unlink()
    cams = [CameraConfig(name="lobby", url="rtsp://127.0.0.1:1/cam")]
    for _ in range(2):  # the row goes in the first pass; the record stays after the next
        run_retention(site.db, site.data_dir, cams, RecordingConfig())
        code, text = _cli(site, "retention", "status", "--json")
        lost = json.loads(text)["lost_footage"]
        assert [(p["kind"], p["path"]) for p in lost if p["kind"] == "missing"] == [
            ("missing", gone.path)
        ]
    assert gone.path not in {s.path for s in camera_segments(site.db, "lobby")}
    code, text = _cli(site, "retention", "status")
    assert "1 missing" in text and gone.path in text
    code, text = _cli(site, "cameras", "status", "--json")
    assert json.loads(text)["lost_footage"]["lobby"]["missing"] == 1

    code, text = _cli(site, "segments", "ack", "lobby", "--note", " ")
    assert code == 99 and "--note" in text
    code, text = _cli(site, "segments", "ack", "lobby", "--note", "disk swapped; ticket 12")
    assert code == 0 and "acknowledged 2" in text, text  # the missing and the damaged one
    code, text = _cli(site, "retention", "status", "--json")
    assert json.loads(text)["lost_footage"] == []
    code, text = _cli(site, "cameras", "status", "--json")
    assert json.loads(text)["lost_footage"] == {}
    kept = list_problems(site.db, include_acknowledged=True)
    assert {p.kind for p in kept} == {"missing", "damaged"}
    assert all(p.note == "disk swapped; ticket 12" and p.acknowledged_at for p in kept)
    code, text = _cli(site, "audit", "show", "--action", "ack_footage", "--json")
    [rec] = json.loads(text)
    assert rec["reason"] == "disk swapped; ticket 12" and rec["camera"] == "lobby"
    assert {p["path"] for p in rec["details"]["problems"]} >= {gone.path}
    # acknowledged: retention does not bring it back
    run_retention(site.db, site.data_dir, [], RecordingConfig())
    assert list_problems(site.db) == []
    assert datetime.now(UTC) > gone.start
