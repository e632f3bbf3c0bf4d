"""`vigil report zones`: minutes per state add up, and the time line is drawn."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PIL import Image

from vigil.cli import run
from vigil.pipeline.events import create_event
from vigil.store.db import Database


def test_zone_report(data_dir: Path, tmp_path: Path, capsys) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    day = date(2026, 11, 27)
    eight = datetime(2026, 11, 27, 8, 0).astimezone().astimezone(UTC)
    spans = [(0, 90, "running"), (90, 120, "idle"), (120, 300, "running")]  # minutes after 08:00
    for a, b, state in spans:
        create_event(
            db,
            camera="line1",
            kind="zone_change",
            zone="press",
            start=eight + timedelta(minutes=a),
            end=eight + timedelta(minutes=b),
            details={"zone_kind": "machine", "state": state},
        )
    for direction in ("in", "in", "out"):
        create_event(
            db,
            camera="line1",
            kind="zone_change",
            zone="door",
            start=eight,
            end=eight,
            details={"zone_kind": "doorway", "state": direction},
        )
    out = tmp_path / "report"
    code = run(
        [
            "--data-dir",
            str(data_dir),
            "report",
            "zones",
            "line1",
            "--day",
            day.isoformat(),
            "-o",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = {r["zone"]: r for r in csv.DictReader((out / "zones-line1-2026-11-27.csv").open())}
    assert float(rows["press"]["running_min"]) == 270.0
    assert float(rows["press"]["idle_min"]) == 30.0
    assert float(rows["press"]["no_data_min"]) == 24 * 60 - 300
    assert (rows["door"]["in"], rows["door"]["out"]) == ("2", "1")
    png = Image.open(out / "zones-line1-2026-11-27.png")
    assert png.size[0] > 800
    assert run(["--data-dir", str(data_dir), "report", "zones", "line1", "--day", "yesterday"]) == 2
