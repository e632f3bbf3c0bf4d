"""`vigil bench record --c-probe`: the copy loop written in C, measured beside the recorders."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import pytest

from vigil.bench import record as bench_record
from vigil.errors import VigilError


@pytest.mark.timeout(180)
def test_c_probe_records_playable_footage_and_is_measured(
    rtsp_available: None, tmp_path: Path
) -> None:
    clip = bench_record.make_clip(20, tmp_path, 320, 240, 300)
    server = bench_record.Server(clip, ["/cam"])
    try:
        server.hold("/cam")
        phase = bench_record.run_probe(
            f"{server.url}/cam", 2, tmp_path / "probe", server, 0.5, 2.5,
            exe=bench_record.build_probe(),
        )  # fmt: skip
    finally:
        server.stop()
    assert phase.online == 2 and phase.notes == []
    # the window is longer than a keyframe interval: a whole fragment (one a keyframe) landed
    assert phase.pss_bytes > 0 and phase.recorded_bytes > 0
    for path in sorted((tmp_path / "probe").glob("c*.mp4")):
        with av.open(str(path)) as mp4:
            packets = [p for p in mp4.demux(video=0) if p.size]
        # from a keyframe, timestamps rebased to 0, every packet in order: what was written
        # while it ran (from the first keyframe on: over a second of a 25 fps camera) reads
        # back whole
        assert len(packets) >= 25 and packets[0].is_keyframe and packets[0].dts == 0
        assert all(a.dts < b.dts for a, b in itertools.pairwise(packets))
    alone = {f.name: f for f in bench_record.probe_figures(phase, None)}
    assert alone["C probe: CPU per camera (hashing too)"].value == phase.cpu_pct / 2
    assert alone["C probe: footage written to disk"].baseline is None
    # beside ffmpeg (here: itself), the probe must write as much footage as ffmpeg did
    footage = next(f for f in bench_record.probe_figures(phase, phase) if "footage" in f.name)
    assert footage.met and footage.target == pytest.approx(0.98 * phase.mbps)


def test_c_probe_without_a_compiler_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing built there yet
    monkeypatch.setenv("PATH", "")
    with pytest.raises(VigilError, match="C compiler") as err:
        bench_record.build_probe()
    assert "libavformat-dev" in (err.value.hint or "")
