"""`vigil record` shares the disk guard of `vigil serve` (before: it wrote until writes failed)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.camera.conftest import wait_for
from tests.storage.conftest import fill
from vigil.camera.index import camera_segments
from vigil.camera.status import read_status
from vigil.cli import run as cli
from vigil.store.db import Database


def _error(data_dir: Path) -> str:
    snap = read_status(data_dir)
    return (snap.cameras[0].error or "") if snap and snap.cameras else ""


@pytest.mark.timeout(120)
def test_vigil_record_pauses_on_a_full_disk_then_resumes(
    small_fs, loop_clip: Path, tmp_path: Path, capsys
) -> None:
    fs = small_fs("96m")
    data_dir = fs / "var"
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(
        f"storage:\n  data_dir: {json.dumps(str(data_dir))}\n"
        "recording:\n  min_free_gb: 0.07\n  space_check_s: 0.5\n"
        f"cameras:\n  - name: gate\n    url: {json.dumps(str(loop_clip))}\n"
        "    loop: true\n    segment_seconds: 2\n"
    )
    # someone else's file leaves less than min_free_gb (and the hard floor) free
    foreign = fill(fs / "restore.img", shutil.disk_usage(fs).free - 66_000_000)
    cmd = [sys.executable, "-c", "from vigil.cli import main; main()", "-c", str(cfg), "record"]
    proc = subprocess.Popen(
        [*cmd, "--no-live"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        # it runs, writes nothing, and says why: the alarm names the other files
        assert wait_for(lambda: "other files (not Vigil's)" in _error(data_dir), 40), (
            _error(data_dir),
            proc.poll(),
        )
        assert "recording paused" in _error(data_dir)
        assert proc.poll() is None
        db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
        assert camera_segments(db, "gate") == []
        assert cli(["-c", str(cfg), "cameras", "status"]) == 0
        out = capsys.readouterr().out
        assert "storage alarm, recording paused" in out and "other files" in out
        assert cli(["-c", str(cfg), "retention", "status", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)["storage"]
        assert status["alarm"] and status["other_bytes"] >= foreign.stat().st_size
        # the space comes back: recording resumes by itself (free space checked every 0.5 s)
        foreign.unlink()
        assert wait_for(lambda: sum(s.complete for s in camera_segments(db, "gate")) >= 2, 40)
        assert wait_for(lambda: _error(data_dir) == "", 10), _error(data_dir)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
