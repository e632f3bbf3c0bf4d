"""The segment index: repository functions over the `segments` table, probing and repair.

A row is added when a segment file is opened (`complete=False`), its end/size/keyframes are
advanced as fragments reach the disk, and it is marked complete when the file is closed.
After a crash `repair_index` makes the index match the disk again.

Paths in the table are relative to the recordings folder (`<data_dir>/recordings`) and use
'/' on every OS: `<camera>/<YYYY-MM-DD>/<HHMMSS>.mp4` (UTC date and time of the first frame).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import av
from sqlalchemy import Table, bindparam, delete, select, update

from vigil.camera.checksum import file_sha256, record_missing_rows
from vigil.camera.timebase import stream_time_base
from vigil.storage import RECORDINGS as RECORDINGS  # the data_dir layout lives in storage
from vigil.storage import recordings_dir as recordings_dir
from vigil.store.db import Database
from vigil.store.models.camera import Segment

log = logging.getLogger(__name__)

META_PREFIX = "vigil start="
_NAME_RE = re.compile(r"^(\d{6})(?:-\d+)?\.mp4$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def segment_relpath(camera: str, start: datetime, suffix: int = 0) -> str:
    start = start.astimezone(UTC)
    name = start.strftime("%H%M%S") + (f"-{suffix}" if suffix else "") + ".mp4"
    return f"{camera}/{start:%Y-%m-%d}/{name}"


def start_comment(camera: str, start: datetime) -> str:
    """Metadata written into each segment's moov, so a file alone tells its exact start."""
    return f"{META_PREFIX}{start.astimezone(UTC).isoformat()} camera={camera}"


def parse_start_comment(comment: str | None) -> datetime | None:
    if not comment or not comment.startswith(META_PREFIX):
        return None
    stamp = comment[len(META_PREFIX) :].split(" ", 1)[0]
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def start_from_relpath(relpath: str) -> datetime | None:
    parts = relpath.split("/")
    if len(parts) < 3 or not _DATE_RE.match(parts[-2]):
        return None
    m = _NAME_RE.match(parts[-1])
    if not m:
        return None
    try:
        return datetime.strptime(parts[-2] + m.group(1), "%Y-%m-%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class SegmentProbe:
    """What a segment file really holds (read by demuxing, no decoding)."""

    packets: int = 0
    duration: float = 0.0  # seconds from the first to the end of the last packet
    keyframes: list[float] = field(default_factory=list)  # offsets in seconds
    size: int = 0
    start: datetime | None = None  # from the file's metadata
    error: str = ""  # why reading stopped early ("" when the file ended cleanly)


def trim_to_last_fragment(path: Path) -> int:
    """Cut a torn tail off a fragmented MP4 (a fragment half-written when the disk filled or
    the process died), so every player reads it to the end. Returns the bytes removed.

    Walks the top-level boxes: the file is kept up to the end of the last complete box, and a
    trailing `moof` whose `mdat` is missing or short goes too.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            pos = 0
            good = 0
            pending_moof: int | None = None  # start of a moof still waiting for its mdat
            while pos + 8 <= size:
                f.seek(pos)
                head = f.read(16)
                box_size = int.from_bytes(head[:4], "big")
                kind = head[4:8]
                if box_size == 1 and len(head) >= 16:
                    box_size = int.from_bytes(head[8:16], "big")
                elif box_size == 0:
                    box_size = size - pos  # "to the end of the file": cannot be trusted
                    break
                if box_size < 8 or pos + box_size > size:
                    break
                pos += box_size
                if kind == b"moof":
                    pending_moof = pos - box_size
                elif kind == b"mdat":
                    pending_moof = None
                    good = pos
                elif pending_moof is None:
                    good = pos
            keep = good
    except OSError:
        return 0
    if keep < size and keep > 0:
        try:
            os.truncate(path, keep)
        except OSError:
            return 0
        return size - keep
    return 0


def probe_segment(path: Path) -> SegmentProbe:
    """Read a (possibly truncated) fragmented MP4 and report what plays."""
    result = SegmentProbe()
    try:
        result.size = path.stat().st_size
    except OSError as exc:
        result.error = exc.strerror or str(exc)
        return result
    try:
        container = av.open(str(path))
    except Exception as exc:  # empty or header-only file
        result.error = str(exc)
        return result
    try:
        result.start = parse_start_comment(container.metadata.get("comment"))
        if not container.streams.video:
            result.error = "no video stream"
            return result
        vs = container.streams.video[0]
        first: int | None = None
        last_end = 0
        frame = 0
        try:
            tb = stream_time_base(vs)
            for pkt in container.demux(vs):
                pts = pkt.pts if pkt.pts is not None else pkt.dts
                if pkt.size == 0 or pts is None:
                    continue
                if first is None:
                    first = pts
                result.packets += 1
                if pkt.is_keyframe:
                    result.keyframes.append(round(float((pts - first) * tb), 4))
                if pkt.duration:
                    frame = pkt.duration
                last_end = max(last_end, pts + (pkt.duration or frame))
        except Exception as exc:  # a truncated last fragment
            result.error = str(exc)
        if first is not None:
            result.duration = float((last_end - first) * stream_time_base(vs))
    finally:
        container.close()
    return result


# --- repository -------------------------------------------------------------------------


def add_segment(db: Database, camera: str, start: datetime, relpath: str) -> int:
    with db.session() as s:
        row = Segment(
            camera=camera, start=start, end=start, path=relpath, size_bytes=0, keyframes=[]
        )
        s.add(row)
        s.flush()
        return row.id


# Declarative models type `__table__` as a FromClause; a mapped class's is always a Table.
_SEGMENTS = cast(Table, Segment.__table__)
# Every open segment advances its row every few seconds: one statement built once (building it
# per call cost ~8x the UPDATE itself).
_UPDATE_SEGMENT = (
    update(_SEGMENTS)
    .where(_SEGMENTS.c.id == bindparam("sid"))
    .values(
        end=bindparam("end", type_=_SEGMENTS.c.end.type),
        size_bytes=bindparam("size"),
        keyframes=bindparam("kf", type_=_SEGMENTS.c.keyframes.type),
        complete=bindparam("done"),
        sha256=bindparam("sha"),
    )
)


def update_segment(
    db: Database,
    segment_id: int,
    *,
    end: datetime,
    size: int,
    keyframes: list[float],
    complete: bool = False,
    sha256: str | None = None,
) -> None:
    # A row removed meanwhile (e.g. by retention) matches nothing and stays removed.
    values = {
        "sid": segment_id,
        "end": end,
        "size": size,
        "kf": list(keyframes),
        "done": complete,
        "sha": sha256,
    }
    with db.session() as s:
        s.execute(_UPDATE_SEGMENT, values)


def delete_segment_row(db: Database, segment_id: int) -> None:
    with db.session() as s:
        s.execute(delete(Segment).where(Segment.id == segment_id))


def segments_between(db: Database, camera: str, start: datetime, end: datetime) -> list[Segment]:
    """Segments of a camera that overlap [start, end), oldest first."""
    with db.session() as s:
        rows = s.scalars(
            select(Segment)
            .where(Segment.camera == camera, Segment.start < end, Segment.end > start)
            .order_by(Segment.start)
        ).all()
        return list(rows)


def camera_segments(db: Database, camera: str) -> list[Segment]:
    with db.session() as s:
        return list(
            s.scalars(select(Segment).where(Segment.camera == camera).order_by(Segment.start))
        )


@dataclass
class Coverage:
    """Continuous stretches of footage and the gaps between them."""

    spans: list[tuple[datetime, datetime]]
    gaps: list[tuple[datetime, datetime]]


def coverage(segments: Iterable[Segment], tolerance_s: float = 0.5) -> Coverage:
    """Merge segments that touch (within `tolerance_s`) into spans; report the gaps."""
    spans: list[tuple[datetime, datetime]] = []
    tol = timedelta(seconds=tolerance_s)
    for seg in sorted(segments, key=lambda x: x.start):
        if spans and seg.start <= spans[-1][1] + tol:
            spans[-1] = (spans[-1][0], max(spans[-1][1], seg.end))
        else:
            spans.append((seg.start, seg.end))
    gaps = [(a[1], b[0]) for a, b in itertools.pairwise(spans)]
    return Coverage(spans, gaps)


# --- repair -----------------------------------------------------------------------------


@dataclass
class RepairReport:
    fixed: list[str] = field(default_factory=list)  # incomplete rows probed and completed
    added: list[str] = field(default_factory=list)  # files on disk that had no row
    removed: list[str] = field(default_factory=list)  # rows whose file was gone
    dropped_empty: list[str] = field(default_factory=list)  # files without a single frame
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.fixed) + len(self.added) + len(self.removed) + len(self.dropped_empty)


def _completed(probe: SegmentProbe, start: datetime) -> tuple[datetime, int, list[float]]:
    return start + timedelta(seconds=probe.duration), probe.size, probe.keyframes


def _sha256(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def repair_index(
    db: Database, data_dir: Path, cameras: Iterable[str] | None = None
) -> RepairReport:
    """Make the index match the files (run before recording starts, never during).

    - incomplete rows: probe the file, set end/size/keyframes, mark complete;
      a file without one playable frame is deleted with its row;
    - rows whose file is gone are removed (logged, and kept as missing footage until an
      operator acknowledges it: `camera.checksum`);
    - files without a row are probed and indexed (start from their metadata, else their name).
    """
    root = recordings_dir(data_dir)
    report = RepairReport()
    wanted = set(cameras) if cameras is not None else None
    with db.session() as s:
        rows = s.scalars(select(Segment)).all()
        known: set[str] = set()
        for row in rows:
            if wanted is not None and row.camera not in wanted:
                known.add(row.path)
                continue
            path = root / row.path
            if not path.exists():
                log.warning(
                    "segment %s is in the index but its file is gone; row removed", row.path
                )
                report.removed.append(row.path)
                record_missing_rows(s, [row], "repair")
                s.delete(row)
                continue
            known.add(row.path)
            if row.complete:
                continue
            if trimmed := trim_to_last_fragment(path):
                log.info("segment %s: cut %d bytes of a torn last fragment", row.path, trimmed)
            probe = probe_segment(path)
            if probe.packets == 0:
                log.warning("segment %s holds no playable frame; deleted", row.path)
                report.dropped_empty.append(row.path)
                path.unlink(missing_ok=True)
                s.delete(row)
                continue
            row.end, row.size_bytes, row.keyframes = _completed(probe, row.start)
            row.sha256 = _sha256(path)
            row.complete = True
            report.fixed.append(row.path)
            log.info("segment %s repaired: %.1f s playable", row.path, probe.duration)
        s.flush()

        if root.is_dir():
            for cam_dir in sorted(p for p in root.iterdir() if p.is_dir()):
                if wanted is not None and cam_dir.name not in wanted:
                    continue
                for file in sorted(cam_dir.glob("*/*.mp4")):
                    rel = file.relative_to(root).as_posix()
                    if rel in known:
                        continue
                    trim_to_last_fragment(file)
                    probe = probe_segment(file)
                    if probe.packets == 0:
                        log.warning("file %s holds no playable frame; deleted", rel)
                        report.dropped_empty.append(rel)
                        file.unlink(missing_ok=True)
                        continue
                    start = probe.start or start_from_relpath(rel)
                    if start is None:
                        report.problems.append(f"{rel}: cannot tell when it starts; left alone")
                        continue
                    end, size, keys = _completed(probe, start)
                    s.add(
                        Segment(
                            camera=cam_dir.name,
                            start=start,
                            end=end,
                            path=rel,
                            size_bytes=size,
                            keyframes=keys,
                            complete=True,
                            sha256=_sha256(file),
                        )
                    )
                    report.added.append(rel)
                    log.info("file %s was not indexed; added (%.1f s)", rel, probe.duration)
    return report
