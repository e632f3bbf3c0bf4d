"""A camera that is not recorded says what it does instead (not just "disabled")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.camera.recorder import RecordingService
from vigil.camera.status import write_status
from vigil.cli import run
from vigil.cli.state import console
from vigil.config import load_config

CONFIG = """\
storage:
  data_dir: {data_dir}
cameras:
  - name: desk
    url: /dev/video0
    record: false
  - name: lobby
    url: lobby.mp4
    record: false
    analysis:
      enabled: false
  - name: yard
    url: yard.mp4
    enabled: false
"""


def test_status_says_analysis_only_idle_or_disabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_path = tmp_path / "vigil.yaml"
    cfg_path.write_text(CONFIG.format(data_dir=json.dumps(str(tmp_path / "var"))))
    cfg = load_config(cfg_path)
    svc = RecordingService(cfg.cameras, cfg.storage.data_dir, None)  # nothing to start
    assert not svc.recorders
    write_status(cfg.storage.data_dir, svc.statuses())

    assert run(["-c", str(cfg_path), "cameras", "status", "--json"]) == 0
    cams = {c["name"]: c for c in json.loads(capsys.readouterr().out)["cameras"]}
    assert {n: c["state"] for n, c in cams.items()} == {
        "desk": "analysis-only",
        "lobby": "idle",
        "yard": "disabled",
    }
    assert "analysed" in cams["desk"]["error"] and "not recorded" in cams["desk"]["error"]
    assert "enabled: false" in cams["yard"]["error"]
    assert not any(c["recording"] or c["online"] for c in cams.values())

    monkeypatch.setattr(console, "width", 200)  # the table's columns, not elided
    assert run(["-c", str(cfg_path), "cameras", "status"]) == 0
    table = capsys.readouterr().out
    assert "analysis-only" in table and "idle" in table
