"""`vigil report zones`: minutes per state add up, and the time line is drawn."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml
from PIL import Image

from vigil.cli import run
from vigil.events.store import create_event
from vigil.pipeline.zone_report import zone_day
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


def test_every_configured_zone_listed_and_time_line_spans_data_hours(
    data_dir: Path, tmp_path: Path, capsys
) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    eight = datetime(2026, 11, 27, 8, 20).astimezone().astimezone(UTC)
    create_event(
        db,
        camera="line1",
        kind="zone_change",
        zone="press",
        start=eight,
        end=eight + timedelta(minutes=100),  # 08:20-10:00
        details={"zone_kind": "machine", "state": "running"},
    )
    square = [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3]]
    zones = [
        {"name": "press", "kind": "machine", "polygon": square},
        {"name": "press 2", "kind": "machine", "polygon": square},
        {"name": "side door", "kind": "doorway", "polygon": square},
        {"name": "lab", "kind": "restricted", "polygon": square},
    ]
    config = tmp_path / "vigil.yaml"
    config.write_text(
        yaml.safe_dump({"cameras": [{"name": "line1", "url": "x.mp4", "zones": zones}]})
    )
    out = tmp_path / "report"
    args = ["--config", str(config), "--data-dir", str(data_dir), "report", "zones", "line1"]
    assert run([*args, "--day", "2026-11-27", "-o", str(out)]) == 0, capsys.readouterr().err
    rows = {r["zone"]: r for r in csv.DictReader((out / "zones-line1-2026-11-27.csv").open())}
    assert set(rows) == {"press", "press 2", "side door"}
    assert float(rows["press 2"]["running_min"]) == 0 and float(rows["press 2"]["idle_min"]) == 0
    assert (rows["side door"]["in"], rows["side door"]["out"]) == ("0", "0")
    report = zone_day(db, "line1", date(2026, 11, 27))
    first, last = report.shown()
    assert (first.hour, first.minute, last.hour, last.minute) == (8, 0, 10, 0)
