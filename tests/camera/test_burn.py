"""Privacy masks burned into recordings (issue 7): black on disk, indexed, playable, exportable,
while a camera without burn-in in the same service is still stream-copied."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tests.camera.conftest import decode_all, wait_for
from vigil.camera.burn import MaskBurner
from vigil.camera.export import export_clip
from vigil.camera.index import (
    camera_segments,
    coverage,
    probe_segment,
    recordings_dir,
    repair_index,
)
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.cli import app
from vigil.config import CameraConfig
from vigil.store.db import Database

FAST = RecorderOptions(
    io_timeout_s=1.0,
    backoff_initial_s=0.5,
    backoff_max_s=1.0,
    index_interval_s=0.5,
    status_interval_s=0.5,
)
# A rectangle in the upper left of the 768x576 street scene (fractions of the frame).
MASK = [(0.1, 0.1), (0.5, 0.1), (0.5, 0.6), (0.1, 0.6)]
INSIDE = (slice(round(0.12 * 576), round(0.58 * 576)), slice(round(0.12 * 768), round(0.48 * 768)))
MASK2 = [(0.05, 0.7), (0.35, 0.7), (0.35, 0.95), (0.05, 0.95)]  # lower left, added later
IN_MASK2 = (
    slice(round(0.72 * 576), round(0.93 * 576)),
    slice(round(0.07 * 768), round(0.33 * 768)),
)
OUTSIDE = (slice(round(0.65 * 576), 576), slice(round(0.55 * 768), 768))


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]


def _assert_masked(frames: list[np.ndarray]) -> None:
    assert frames
    for img in frames:
        assert img[INSIDE].max() <= 24, "a pixel under the mask is not black"
        assert img[OUTSIDE].mean() > 40, "the rest of the picture must stay visible"


def _sps(extradata: bytes) -> bytes:
    """The H.264 sequence parameter set in MP4 (avcC) or RTSP (Annex B) extradata."""
    if extradata[:1] == b"\x01":  # avcC: header, count, 2-byte length, SPS
        return extradata[8 : 8 + int.from_bytes(extradata[6:8])]
    nals = extradata.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return next(n for n in nals if n and n[0] & 0x1F == 7)


def _recorded_sps(path: Path) -> bytes:
    with av.open(str(path)) as c:
        return _sps(bytes(c.streams.video[0].codec_context.extradata or b""))


@pytest.mark.timeout(90)
def test_burned_camera_records_masked_footage_beside_a_copied_one(
    rtsp_server, data_dir: Path, tmp_path: Path
) -> None:
    srv = rtsp_server()
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    masked = CameraConfig(
        name="masked",
        url=srv.url,
        segment_seconds=2,
        privacy_masks=[MASK],
        privacy_masks_burn_in=True,
    )
    # Masks alone (no burn-in) leave the recording untouched: stream copy.
    plain = CameraConfig(name="plain", url=srv.url, segment_seconds=2, privacy_masks=[MASK])
    t0 = datetime.now(UTC)
    svc = RecordingService([masked, plain], data_dir, db, FAST)
    svc.start()
    try:
        assert wait_for(lambda: all(s.segments_written >= 3 for s in svc.statuses()), 30)
        st = svc.statuses()[0]
        assert st.name == "masked" and st.online and st.error == ""
        assert st.fps and 8 <= st.fps <= 12
        # a mask saved while recording burns in from the next frame, without a reconnect
        before_update = st.segments_written
        svc.update_camera(masked.model_copy(update={"privacy_masks": [MASK, MASK2]}))
        assert wait_for(lambda: svc.statuses()[0].segments_written >= before_update + 2, 10)
        assert svc.statuses()[0].reconnects == 0
    finally:
        svc.stop()
    t1 = datetime.now(UTC)
    root = recordings_dir(data_dir)

    segs = camera_segments(db, "masked")
    assert len(segs) >= 3
    for s in segs:  # indexed like a copied segment: complete, starts at a keyframe, exact end
        path = root / s.path
        assert s.complete and s.keyframes and s.keyframes[0] == 0.0
        probe = probe_segment(path)
        assert probe.packets > 0
        assert abs(probe.duration - (s.end - s.start).total_seconds()) < 0.15
        assert s.size_bytes == path.stat().st_size
    # wall clock as the copy path: inside the run, about 2 s each, back to back
    assert t0 - timedelta(seconds=1) <= segs[0].start and segs[-1].end <= t1 + timedelta(seconds=1)
    for s in segs[:-1]:
        assert 1.9 <= (s.end - s.start).total_seconds() <= 2.2
    assert len(coverage(segs, tolerance_s=0.15).spans) == 1
    for s in segs[:-1]:  # every frame is there (10 fps) and every one is masked
        frames = _frames(root / s.path)
        assert len(frames) >= 19
        _assert_masked(frames)
    assert _frames(root / segs[0].path)[0][IN_MASK2].mean() > 40  # before the update
    after_update = segs[before_update + 1 : -1]
    assert after_update
    for s in after_update:
        assert all(img[IN_MASK2].max() <= 24 for img in _frames(root / s.path))
    with av.open(str(root / segs[0].path)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.name, cc.width, cc.height) == ("h264", 768, 576)

    # the unmasked camera was stream-copied: the source's own SPS/PPS, its picture intact
    plain_segs = camera_segments(db, "plain")
    plain_first = root / plain_segs[0].path
    with av.open(srv.url, options={"rtsp_transport": "tcp"}) as src:
        source_sps = _sps(bytes(src.streams.video[0].codec_context.extradata or b""))
    assert _recorded_sps(plain_first) == source_sps
    assert _recorded_sps(root / segs[0].path) != source_sps  # re-encoded
    assert _frames(plain_first)[0][INSIDE].mean() > 40  # the scene under the mask is not dark

    # export across segment boundaries keeps the mask (the file is what was recorded)
    out = tmp_path / "clip.mp4"
    result = export_clip(db, data_dir, "masked", segs[0].start, segs[2].end, out)
    assert result.segments >= 3 and result.frames >= 50
    assert decode_all(out) == result.frames
    _assert_masked(_frames(out))


@pytest.mark.timeout(90)
def test_kill9_of_a_burning_recorder_keeps_masked_fragments(
    rtsp_server, data_dir: Path, tmp_path: Path
) -> None:
    """The fMP4 guarantees hold with burn-in: after kill -9 the open segment plays up to its
    last fragment, repair completes it, and what survived is masked."""
    srv = rtsp_server()
    cam = {
        "name": "dock",
        "url": srv.url,
        "segment_seconds": 2,
        "privacy_masks": [[list(p) for p in MASK]],
        "privacy_masks_burn_in": True,
    }
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(yaml.safe_dump({"storage": {"data_dir": str(data_dir)}, "cameras": [cam]}))
    cmd = [sys.executable, "-c", "from vigil.cli import main; main()", "-c", str(cfg), "record"]
    proc = subprocess.Popen([*cmd, "--no-live"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    try:
        assert wait_for(lambda: len(camera_segments(db, "dock")) >= 3, 30), proc.poll()
        time.sleep(1.5)  # into the third segment, past its first fragment
        proc.kill()
        killed_at = datetime.now(UTC)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = camera_segments(db, "dock")
    assert not before[-1].complete
    report = repair_index(db, data_dir, ["dock"])
    assert before[-1].path in report.fixed
    last = camera_segments(db, "dock")[-1]
    assert last.path == before[-1].path and last.complete
    frames = _frames(recordings_dir(data_dir) / last.path)
    assert len(frames) >= 10  # at least its first whole 1 s fragment
    _assert_masked(frames)
    assert killed_at - last.end < timedelta(seconds=2.0), (killed_at, last.end)


def test_burner_keeps_timestamps_and_keyframes(h264_file: Path) -> None:
    """Packet in, packet out: same pts, a keyframe wherever the source had one."""
    with av.open(str(h264_file)) as c:
        vs = c.streams.video[0]
        burner = MaskBurner(vs, [MASK])
        src_pts, src_keys, out = [], [], []
        for pkt in c.demux(vs):
            if pkt.size == 0:
                continue
            src_pts.append(pkt.pts)
            if pkt.is_keyframe:
                src_keys.append(pkt.pts)
            out += burner.burn(pkt)
        out += burner.flush()
        template = burner.template
        assert template is not None and template.codec_context.extradata
    # zerolatency: every frame comes out at once, with the source's timestamps
    assert [p.pts for p in out] == src_pts
    assert [p.dts for p in out] == src_pts
    assert [p.pts for p in out if p.is_keyframe] == src_keys
    assert len(src_keys) == 4 and burner.frames == 40 and burner.decode_errors == 0


def test_burner_restarts_its_encoder_when_timestamps_go_back(h264_file: Path) -> None:
    """A source that starts over (timestamps back to 0) gets a fresh encoder and a new template,
    so the recorder starts a new segment instead of muxing a non-increasing dts."""
    with av.open(str(h264_file)) as c:
        vs = c.streams.video[0]
        packets = [p for p in c.demux(vs) if p.size]
        burner = MaskBurner(vs, [MASK])
        first = [o for p in packets[:15] for o in burner.burn(p)]
        template = burner.template
        again = [o for p in packets[:15] for o in burner.burn(p)]
    assert burner.restarts == 1 and burner.template is not template
    assert again[0].is_keyframe and [o.pts for o in again] == [o.pts for o in first]


def test_burn_in_without_masks_is_refused_by_config_check(tmp_path: Path) -> None:
    f = tmp_path / "vigil.yaml"
    f.write_text(
        "cameras:\n  - name: gate\n    url: rtsp://cam/s\n    privacy_masks_burn_in: true\n"
    )
    res = CliRunner().invoke(app, ["config", "check", str(f)])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "line 4: cameras[0].privacy_masks_burn_in" in text
    assert "no privacy_masks" in text
    f.write_text(
        "cameras:\n"
        "  - name: gate\n"
        "    url: rtsp://cam/s\n"
        "    privacy_masks: [[[0, 0], [0.5, 0], [0.5, 0.5]]]\n"
        "    privacy_masks_burn_in: true\n"
    )
    assert CliRunner().invoke(app, ["config", "check", str(f)]).exit_code == 0


@pytest.mark.timeout(120)
def test_burn_in_bench_measures_cpu_beside_stream_copy(rtsp_available, tmp_path: Path) -> None:
    """`vigil bench record --burn-in`, tiny: its figures sit beside stream copy of the same run."""
    from vigil.bench import record as bench_record

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not found (the bench makes its clip with it)")
    figures, results = bench_record.run_burn(
        cameras=1, seconds=1.5, warmup_s=0.5, sizes=((320, 240, 300),), clip_folder=tmp_path
    )
    (r,) = results
    assert r.label == "240p25" and r.copy.online == r.burn.online == 1
    assert r.burn.recorded_bytes > 0 and r.copy.recorded_bytes > 0
    assert r.burn.min_fps and r.burn.min_fps >= 20  # kept up with the 25 fps source
    # decoding and encoding cost more than copying packets, and the figure says so
    assert r.per_camera_pct(r.burn) > r.per_camera_pct(r.copy)
    by_name = {f.name: f for f in figures}
    cpu = by_name["CPU per camera, 240p25, burn-in"]
    assert cpu.baseline_name == "stream copy" and cpu.baseline == r.per_camera_pct(r.copy)
    assert by_name["burned-in 240p25 cameras per core"].value == pytest.approx(r.cameras_per_core)


def test_removing_the_last_mask_of_a_burning_camera_is_refused(tmp_path: Path) -> None:
    """The UI's layout save cannot leave burn-in on with nothing to burn: vigil.yaml unchanged."""
    from vigil.config_edit import CameraLayout, InvalidLayout, read_etag, save_layout

    f = tmp_path / "vigil.yaml"
    f.write_text(
        "cameras:\n"
        "  - name: gate  # the neighbour's window is masked\n"
        "    url: rtsp://cam/s\n"
        "    privacy_masks: [[[0, 0], [0.5, 0], [0.5, 0.5]]]\n"
        "    privacy_masks_burn_in: true\n"
    )
    before = f.read_bytes()
    with pytest.raises(InvalidLayout, match="privacy_masks_burn_in is on but"):
        save_layout(f, "gate", CameraLayout([], [], []), read_etag(f))
    assert f.read_bytes() == before
