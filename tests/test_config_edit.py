"""Round-trip edits of a camera's layout in vigil.yaml: only the layout lines change."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from vigil.config import ZoneConfig
from vigil.config_edit import (
    CameraLayout,
    StaleConfig,
    edit_layout_text,
    file_etag,
    save_layout,
)
from vigil.errors import NotFoundError

# Lists at column 0 under their key (the other common style), a zone with its own comment
# and a setting at its default written out by the operator.
SMOOTHING_DEFAULT = ZoneConfig.model_fields["smoothing_s"].default
FLUSH = f"""cameras:
- name: gate   # north gate
  url: rtsp://cam/1
  zones:
  - name: barrier  # the boom
    kind: machine
    polygon: [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3]]
    smoothing_s: {SMOOTHING_DEFAULT:g}
  motion:
    sensitivity: 0.7
- name: shed
  url: rtsp://cam/2
"""

BARRIER = ZoneConfig(name="barrier", kind="machine", polygon=[(0.2, 0.2), (0.4, 0.2), (0.4, 0.4)])


def _changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [d for d in diff if d[:1] in "+-" and d[:3] not in ("+++", "---")]


def test_only_layout_lines_change_in_a_flush_style_file() -> None:
    layout = CameraLayout([BARRIER], [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]], [])
    after = edit_layout_text(FLUSH, "gate", layout)
    assert _changed_lines(FLUSH, after) == [
        "-    polygon: [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3]]",
        "+    polygon: [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4]]",
        "+  privacy_masks:",
        "+  - [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]",
    ]


def test_missing_camera_and_stale_version_leave_the_file(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(FLUSH)
    layout = CameraLayout([], [], [])
    with pytest.raises(NotFoundError):
        save_layout(path, "nope", layout, file_etag(FLUSH.encode()))
    with pytest.raises(StaleConfig):
        save_layout(path, "gate", layout, file_etag(b"an older version"))
    assert path.read_text() == FLUSH
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vigil.yaml"]
