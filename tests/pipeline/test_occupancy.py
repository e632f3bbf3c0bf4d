"""Zone occupancy over time: buckets from per-frame counts, stored rows, the series read back,
the live analysis thread writing them, retention and the migration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from vigil.config import VigilConfig, ZoneConfig
from vigil.faces.engine import FaceEngine
from vigil.pipeline.occupancy import OccupancyRecorder, max_by_zone, occupancy_series
from vigil.pipeline.tracker import Tracker
from vigil.pipeline.zones import ZoneMonitor
from vigil.privacy.data_retention import run_privacy_retention
from vigil.store.db import Database
from vigil.store.models import ZoneOccupancy

T0 = 1_800_000_000.0  # a whole minute (divisible by 60)
DOOR = ZoneConfig(
    name="door", kind="doorway", polygon=[(0.4, 0.3), (0.6, 0.3), (0.6, 0.7), (0.4, 0.7)]
)
BENCH = ZoneConfig(name="bench", kind="restricted", polygon=[(0, 0), (0.2, 0), (0.2, 0.2)])


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'vigil.db'}")
    yield d
    d.close()


def _rows(db: Database) -> list[ZoneOccupancy]:
    with db.session() as s:
        return list(s.scalars(select(ZoneOccupancy).order_by(ZoneOccupancy.start)))


def test_buckets_hold_each_count_until_the_next_frame() -> None:
    # 2 people until 55 s, 3 until 62 s, then 1; a frame a second from 50 s to 70 s.
    rec = OccupancyRecorder("gate")
    for s in range(50, 71):
        rec.update(T0 + s, {"door": 2 if s < 55 else 3 if s < 62 else 1})
    rec.finish()
    first, second = rec.closed
    assert (first.start, second.start) == (T0, T0 + 60)
    assert first.seconds == pytest.approx(10) and second.seconds == pytest.approx(10)
    assert first.mean_people == pytest.approx((5 * 2 + 5 * 3) / 10)
    assert second.mean_people == pytest.approx((2 * 3 + 8 * 1) / 10)
    assert (first.max_people, second.max_people) == (3, 3)  # 3 were inside into 62 s
    assert (first.now_people, second.now_people) == (3, 1)


def test_a_gap_is_not_counted_and_a_long_interval_spans_buckets() -> None:
    rec = OccupancyRecorder("gate", bucket_s=60)
    rec.update(T0 + 10, {"door": 4})
    rec.update(T0 + 40, {"door": 0})  # 30 s without a frame: the camera was away
    rec.update(T0 + 50, {"door": 0})  # 10 s: nobody
    rec.update(T0 + 58, {"door": 2})  # 8 s: nobody
    rec.update(T0 + 64, {"door": 0})  # 58..64 s: 2 people, 2 s here and 4 s in the next
    rec.finish()
    first, second = rec.closed
    assert first.seconds == pytest.approx(20) and first.mean_people == pytest.approx(4 / 20)
    assert first.max_people == 4  # seen at a frame, though no time was counted for it
    assert second.seconds == pytest.approx(4) and second.mean_people == pytest.approx(2.0)
    assert second.max_people == 2 and second.now_people == 0


def test_rows_written_while_open_give_the_live_count(db: Database) -> None:
    heard: list[tuple[str, str, int]] = []
    rec = OccupancyRecorder(
        "gate", db, flush_s=10, on_change=lambda *a: heard.append((a[0], a[1], a[2]))
    )
    rec.update(T0, {"door": 1, "bench": 0})
    rec.update(T0 + 5, {"door": 2, "bench": 0})  # not flushed yet: 5 s after the first write
    assert [(r.zone, r.now_people) for r in _rows(db)] == [("door", 1), ("bench", 0)]
    rec.update(T0 + 12, {"door": 2, "bench": 0})
    door = next(r for r in _rows(db) if r.zone == "door")
    assert (door.now_people, door.max_people, door.seconds) == (2, 2, 12)
    assert door.updated_at == datetime.fromtimestamp(T0 + 12, UTC)
    assert door.mean_people == pytest.approx((5 * 1 + 7 * 2) / 12, abs=1e-3)
    rec.update(T0 + 61, {"door": 0})  # bench removed from the layout; a new minute
    rec.finish()
    rows = _rows(db)
    assert len(rows) == 3 and len({(r.zone, r.start) for r in rows}) == 3  # upserted
    assert [r.bucket_s for r in rows] == [60, 60, 60]
    changes = [("door", 1), ("bench", 0), ("door", 2), ("door", 0)]
    assert heard == [("gate", zone, n) for zone, n in changes]


def test_series_current_and_maximum(db: Database) -> None:
    rec = OccupancyRecorder("gate", db)
    counts = [0] * 30 + [1] * 30 + [3] * 10 + [2] * 50  # one frame a second for 2 minutes
    for i, n in enumerate(counts):
        rec.update(T0 + i, {"door": n})
    rec.update(T0 + len(counts), {"door": 2})
    start, end = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 3600, UTC)
    live = datetime.fromtimestamp(T0 + len(counts) + 5, UTC)
    step, series = occupancy_series(db, "gate", start, end, ["door", "bench"], now=live)
    assert step == 60
    door, bench = series
    assert door.zone == "door" and door.now == 2 and door.max_people == 3
    assert door.max_at == start + timedelta(minutes=1)
    assert [p.max_people for p in door.points] == [1, 3, 2]
    assert door.points[0].mean_people == pytest.approx(0.5)
    assert door.seconds == pytest.approx(120)
    assert door.mean_people == pytest.approx(sum(counts) / 120, abs=1e-3)
    assert (bench.now, bench.max_people, bench.points) == (None, 0, [])  # configured, no data
    later = live + timedelta(minutes=5)  # nothing written for minutes: no live count
    assert occupancy_series(db, "gate", start, end, ["door"], now=later)[1][0].now is None
    # A week asks for 7 x 1440 minutes: merged into steps of 7 minutes.
    step, series = occupancy_series(db, "gate", start, start + timedelta(days=7), ["door"])
    assert step == 420 and [p.max_people for p in series[0].points] == [3]
    assert series[0].points[0].seconds == pytest.approx(120)
    assert max_by_zone(db, "gate", start, end) == {"door": 3}


def test_a_real_zone_monitor_counts_confirmed_people(db: Database) -> None:
    monitor = ZoneMonitor([DOOR, BENCH], (1000, 1000))
    rec = OccupancyRecorder("gate", db, bucket_s=60)
    tracker = Tracker(dict)
    for step in range(20):  # two people in the doorway for 10 s, one beside it
        t = T0 + step * 0.5
        boxes = [(410, 500, 40, 100), (440, 500, 40, 100), (100, 500, 40, 100)]
        monitor.update(t, None, tracker.update(boxes, t)[0])
        rec.update(t, monitor.occupancy)
    rec.finish()
    rows = {r.zone: r for r in _rows(db)}
    assert rows["door"].max_people == 2 and rows["bench"].max_people == 0
    assert rows["door"].seconds == pytest.approx(9.5)
    person_s = rows["door"].mean_people * rows["door"].seconds  # the mean is kept to 0.001
    assert person_s == pytest.approx(monitor.person_s["door"], abs=0.01)


def test_retention_deletes_rows_past_the_camera_retention(db: Database, data_dir: Path) -> None:
    cfg = VigilConfig.model_validate(
        {
            "storage": {"data_dir": str(data_dir)},
            "cameras": [{"name": "gate", "url": "x.mp4", "retention_days": 10}],
        }
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with db.session() as s:
        for cam, days in (("gate", 1), ("gate", 11), ("attic", 20), ("attic", 31)):
            at = now - timedelta(days=days)
            s.add(ZoneOccupancy(camera=cam, zone="door", start=at, updated_at=at))
    r = run_privacy_retention(db, cfg, now=now, audit=False)
    assert r.occupancy_rows_deleted == 2 and r.counts()["occupancy_rows_deleted"] == 2
    left = sorted((row.camera, round((now - row.start).days)) for row in _rows(db))
    assert left == [("attic", 20), ("gate", 1)]  # unconfigured camera: the default 30 days


def test_migration_upgrades_and_downgrades(tmp_path: Path) -> None:
    from alembic import command

    from vigil.store.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url, migrate=False)
    cfg = alembic_config(url)
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0018_review_items")
        assert "zone_occupancy" not in inspect(db.engine).get_table_names()
        db.upgrade()
        assert "zone_occupancy" in inspect(db.engine).get_table_names()
        store = OccupancyRecorder("gate", db)
        store.update(T0, {"door": 1})
        assert len(_rows(db)) == 1
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0018_review_items")
        assert "zone_occupancy" not in inspect(db.engine).get_table_names()
        assert "review_items" in inspect(db.engine).get_table_names()
    finally:
        db.close()


def test_live_analysis_stores_occupancy_per_zone(
    testdata: Path, data_dir: Path, engine: FaceEngine
) -> None:
    """`vigil serve`'s camera thread: each analysed frame's zone counts go to the recorder,
    rows are in the database when the thread stops, and each change is heard live."""
    from vigil.config import CameraConfig, MotionConfig
    from vigil.faces.calibration import Calibration
    from vigil.faces.gallery import Gallery
    from vigil.pipeline.service import AnalysisService

    heard: list[tuple[str, str, int]] = []
    cam = CameraConfig(
        name="street",
        url=str(testdata / "video" / "vtest.avi"),
        loop=True,
        motion=MotionConfig(fps=10),
        zones=[ZoneConfig(name="all", kind="restricted", polygon=[(0, 0), (1, 0), (1, 1)])],
    )
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    service = AnalysisService(
        [cam],
        engine,
        Gallery(db, engine.model_name),
        Calibration.default(engine.model_name),
        lambda _e: None,
        db=db,
        on_occupancy=lambda *a: heard.append((a[0], a[1], a[2])),
    )
    [thread] = service.threads
    service.start()
    try:
        deadline = time.monotonic() + 20
        while thread.frames < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()
    assert thread.error is None and thread.frames >= 8
    rows = _rows(db)
    db.close()
    assert rows and {(r.camera, r.zone) for r in rows} == {("street", "all")}
    assert sum(r.seconds for r in rows) > 0
    assert heard[0][:2] == ("street", "all")
    assert heard[-1][2] == rows[-1].now_people


def test_zone_report_csv_gives_the_most_people_per_zone(db: Database, tmp_path: Path) -> None:
    import csv

    from vigil.pipeline.zone_report import write_csv, zone_day

    day = datetime(2026, 11, 27, 10, 0).astimezone()
    rec = OccupancyRecorder("line1", db)
    for i, n in enumerate([1, 3, 3, 2]):
        rec.update(day.timestamp() + i, {"door": n, "yard": 0})
    rec.finish()
    OccupancyRecorder("line1", db).update(day.timestamp() - 86400, {"door": 9})  # day before
    report = zone_day(db, "line1", day.date(), [DOOR])
    rows = {r["zone"]: r for r in csv.DictReader(write_csv(report, tmp_path / "z.csv").open())}
    assert (rows["door"]["max_people"], rows["yard"]["max_people"]) == ("3", "0")
    assert rows["yard"]["in"] == "" and rows["door"]["in"] == "0"
