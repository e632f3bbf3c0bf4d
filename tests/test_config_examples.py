"""A configuration a newcomer can write: examples that check, and clear refusals of pixels,
infinities and NaN with the path and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vigil.cli import run
from vigil.config import VigilConfig, config_errors

ROOT = Path(__file__).resolve().parents[1]


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    f = tmp_path / "vigil.yaml"
    f.write_text(text)
    code = run(["config", "check", str(f)])
    return code, capsys.readouterr().out


def test_defaults_carry_a_commented_example_that_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["config", "defaults"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    # The defaults themselves are unchanged: cameras: [] and the rest valid as printed.
    assert "cameras: []" in lines and VigilConfig.model_validate(yaml.safe_load(out)) is not None
    start = lines.index("# cameras:")
    assert all(line.startswith("#") for line in lines[lines.index("cameras: []") + 1 :])
    example = [line[2:] for line in lines[start:]]
    text = "\n".join(line for line in lines[:start] if line != "cameras: []") + "\n"
    code, said = check(tmp_path, text + "\n".join(example) + "\n", capsys)
    assert code == 0, said
    cfg = VigilConfig.model_validate(yaml.safe_load("\n".join(example)))
    kinds = {c.name: c for c in cfg.cameras}
    assert kinds["gate"].url.startswith("rtsp://") and kinds["gate"].sub_url
    assert kinds["sample"].loop and kinds["desk"].url.startswith("/dev/video")
    assert {z.kind for z in kinds["gate"].zones} == {"machine", "doorway", "restricted"}
    assert kinds["gate"].privacy_masks and kinds["gate"].motion.masks
    assert "fractions of" in out and "divide pixel x by the frame width" in out


def guide_examples() -> list[str]:
    """The guide's vigil.yaml examples (its hub.yaml example is checked in tests/hub)."""
    text = (ROOT / "docs" / "operator-guide.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)
    return [b for b in blocks if not re.search(r"^sites:", b, flags=re.M)]


def test_operator_guide_has_examples() -> None:
    assert len(guide_examples()) >= 5


@pytest.mark.parametrize("n", range(len(guide_examples())))
def test_operator_guide_examples_check(
    n: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = check(tmp_path, guide_examples()[n], capsys)
    assert code == 0, said


PIXELS = """\
cameras:
  - name: door
    url: rtsp://10.0.0.5/stream1
    privacy_masks:
      - [[700, 150], [900, 150], [900, 400]]
    motion:
      masks:
        - [[0.1, 0.1], [0.2, -0.05], [0.3, 0.3]]
    zones:
      - name: press
        kind: machine
        polygon: [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]
"""


def test_polygons_in_pixels_are_refused_with_how_to_convert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = check(tmp_path, PIXELS, capsys)
    assert code == 1
    said = " ".join(said.split())
    assert "line 5: cameras[0].privacy_masks[0]: Value error, point [700, 150] is outside 0..1" in (
        said
    )
    assert "divide x by the frame width and y by the frame height" in said
    assert "[700, 150] in a 1920x1080 frame is [0.365, 0.139]" in said
    assert "line 8: cameras[0].motion.masks[0]: Value error, point [0.2, -0.05]" in said
    assert "line 12: cameras[0].zones[0].polygon: Value error, point [1.2, 0.1]" in said


@pytest.mark.parametrize("value", ["1e400", ".inf", "-.inf", ".nan", ".NaN"])
def test_non_finite_numbers_are_refused_everywhere(value: str) -> None:
    text = f"""\
faces:
  detector_score: {value}
recording:
  min_free_gb: {value}
cameras:
  - name: door
    url: x
    retention_days: {value}
    zones:
      - name: press
        kind: machine
        polygon: [[0.1, 0.1], [0.5, {value}], [0.5, 0.5]]
        smoothing_s: {value}
"""
    problems = config_errors(text)
    for where in (
        "line 2: faces.detector_score",
        "line 4: recording.min_free_gb",
        "line 8: cameras[0].retention_days",
        "line 12: cameras[0].zones[0].polygon[1][1]",
        "line 13: cameras[0].zones[0].smoothing_s",
    ):
        assert f"{where}: Input should be a finite number" in problems, (where, problems)


def test_finite_values_still_pass() -> None:
    assert config_errors("cameras:\n  - {name: a, url: x, zones: []}\nfaces: {threads: 4}\n") == []
    ok = "cameras:\n  - name: a\n    url: x\n    privacy_masks: [[[0, 0], [1, 0], [1, 1]]]\n"
    assert config_errors(ok) == []
