"""The redaction figure of `vigil bench privacy` sits beside its every-frame baseline."""

from __future__ import annotations

from pathlib import Path

from vigil.bench import privacy as bench_privacy


def test_redaction_bench_beside_a_baseline(faces_dir: Path) -> None:
    figures, extra = bench_privacy.run_redaction(seconds=1.0, fps=10, faces_dir=faces_dir)
    speed = figures[0]
    assert speed.unit == "x real time" and speed.baseline and speed.baseline > 0
    assert speed.value > 0 and extra["frames"] == 10
    assert extra["faces_redacted"] >= 10  # both faces found on every frame of the baseline
