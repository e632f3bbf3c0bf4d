"""Clip export: one MP4 for a camera and a wall-clock range, across segment boundaries.

- remux (default): packets are copied; the clip starts at the keyframe at or before the
  requested start (so it may begin up to one keyframe interval early) and ends at the last
  frame before the requested end. Fast: no decoding.
- exact: frames are decoded from that keyframe and only those inside [start, end) are
  re-encoded with libx264, so the clip matches the request to the frame.

The clip's timeline is the wall clock: t=0 is the first frame's time, and a gap in the
footage stays a gap in time (the player holds the last frame) and is listed in the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av

from vigil.camera.index import coverage, recordings_dir, segments_between
from vigil.errors import InputError, NotFoundError, VigilError
from vigil.store.db import Database
from vigil.store.models.camera import Segment

log = logging.getLogger(__name__)

Progress = Callable[[float], None]  # fraction done, 0..1
EXACT_TIME_BASE = Fraction(1, 1000)


class NoFootageError(NotFoundError):
    """The requested range holds no recorded footage."""


@dataclass
class ExportResult:
    path: Path
    camera: str
    mode: str  # "remux" or "exact"
    requested: tuple[datetime, datetime]
    start: datetime  # wall-clock time of the clip's first frame
    end: datetime  # wall-clock end of the clip's last frame
    frames: int
    segments: int
    size: int
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds")


def _usable_segments(
    db: Database, data_dir: Path, camera: str, start: datetime, end: datetime
) -> list[Segment]:
    if end <= start:
        raise InputError(f"the range ends before it starts ({_fmt(start)} .. {_fmt(end)})")
    root = recordings_dir(data_dir)
    segs = [s for s in segments_between(db, camera, start, end) if (root / s.path).is_file()]
    if not segs:
        from vigil.camera.index import camera_segments

        all_segs = camera_segments(db, camera)
        if not all_segs:
            raise NoFootageError(
                f"camera {camera!r} has no recorded footage",
                hint="check the name with `vigil cameras list`",
            )
        cov = coverage(all_segs)
        near = ", ".join(f"{_fmt(a)} .. {_fmt(b)}" for a, b in cov.spans[-3:])
        raise NoFootageError(
            f"no footage of camera {camera!r} between {_fmt(start)} and {_fmt(end)}",
            hint=f"recorded footage (latest spans): {near}",
        )
    return segs


def _first_keyframe_offset(seg: Segment, start: datetime) -> float:
    """Offset in the segment of the keyframe at or before `start` (0 if start is earlier)."""
    want = (start - seg.start).total_seconds()
    best = 0.0
    for k in seg.keyframes or [0.0]:
        if k <= want + 1e-6:
            best = max(best, k)
    return best


def _segment_packets(path: Path):  # type: ignore[no-untyped-def]
    """(container, stream, iterator of (packet, offset seconds)) for a segment file."""
    container = av.open(str(path))
    vs = container.streams.video[0]

    def gen():  # type: ignore[no-untyped-def]
        first: int | None = None
        try:
            for pkt in container.demux(vs):
                if pkt.size == 0 or pkt.dts is None:
                    continue
                pts = pkt.pts if pkt.pts is not None else pkt.dts
                if first is None:
                    first = pts
                yield pkt, float((pts - first) * vs.time_base)
        except av.error.FFmpegError as exc:  # a truncated last fragment: stop there
            log.info("%s: read stopped early (%s)", path, exc)

    return container, vs, gen()


def export_clip(
    db: Database,
    data_dir: Path,
    camera: str,
    start: datetime,
    end: datetime,
    out_path: Path,
    *,
    exact: bool = False,
    progress: Progress | None = None,
    crf: int = 20,
    preset: str = "veryfast",
) -> ExportResult:
    """Write footage of `camera` between `start` and `end` (UTC-aware) into `out_path`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InputError("export times need a timezone (e.g. 2026-11-28T10:00:00+00:00)")
    segs = _usable_segments(db, data_dir, camera, start, end)
    root = recordings_dir(data_dir)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.part")
    try:
        if exact:
            result = _export_exact(segs, root, camera, start, end, tmp, progress, crf, preset)
        else:
            result = _export_remux(segs, root, camera, start, end, tmp, progress)
        tmp.replace(out_path)
    except VigilError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise VigilError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    result.path = out_path
    result.size = out_path.stat().st_size
    result.gaps = [
        (max(a, start), min(b, end)) for a, b in coverage(segs).gaps if b > start and a < end
    ]
    if progress:
        progress(1.0)
    return result


def _check_same_stream(first: av.video.stream.VideoStream, vs, seg: Segment) -> None:  # type: ignore[no-untyped-def]
    a, b = first.codec_context, vs.codec_context
    if (a.name, a.width, a.height) != (b.name, b.width, b.height):
        raise InputError(
            f"the stream changed inside this range ({a.name} {a.width}x{a.height} -> "
            f"{b.name} {b.width}x{b.height} at {_fmt(seg.start)}); a remuxed clip cannot "
            "hold both",
            hint="use --exact (re-encode) or export the two parts separately",
        )


def _export_remux(
    segs: list[Segment],
    root: Path,
    camera: str,
    start: datetime,
    end: datetime,
    tmp: Path,
    progress: Progress | None,
) -> ExportResult:
    origin: datetime | None = None
    last_end: datetime | None = None
    frames = 0
    last_dts: int | None = None
    used = 0
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        ost = None
        template = None
        for seg in segs:
            skip_before = _first_keyframe_offset(seg, start) if origin is None else None
            container, vs, packets = _segment_packets(root / seg.path)
            try:
                if ost is None:
                    ost = out.add_stream_from_template(vs)
                    template = vs
                else:
                    _check_same_stream(template, vs, seg)
                tb = vs.time_base
                took = False
                for pkt, off in packets:
                    wall = seg.start + timedelta(seconds=off)
                    if skip_before is not None and off < skip_before - 1e-6:
                        continue
                    if wall >= end:
                        break
                    if origin is None:
                        if not pkt.is_keyframe:
                            continue
                        origin = wall
                    shift = round((wall - origin).total_seconds() / tb) - pkt.pts
                    pkt.pts += shift
                    pkt.dts += shift
                    if last_dts is not None and pkt.dts <= last_dts:
                        pkt.dts = last_dts + 1
                        pkt.pts = max(pkt.pts, pkt.dts)
                    last_dts = pkt.dts
                    frame_s = float(pkt.duration * tb) if pkt.duration else 0.0
                    last_end = wall + timedelta(seconds=frame_s)
                    pkt.stream = ost
                    out.mux(pkt)
                    frames += 1
                    took = True
                    if progress and frames % 25 == 0:
                        progress(_fraction(origin, wall, end))
                used += int(took)
            finally:
                container.close()
    if origin is None or last_end is None:
        raise NoFootageError(f"no playable footage of camera {camera!r} in that range")
    return ExportResult(tmp, camera, "remux", (start, end), origin, last_end, frames, used, 0)


def _fraction(origin: datetime, wall: datetime, end: datetime) -> float:
    total = (end - origin).total_seconds()
    return min(1.0, max(0.0, (wall - origin).total_seconds() / total)) if total > 0 else 1.0


def _export_exact(
    segs: list[Segment],
    root: Path,
    camera: str,
    start: datetime,
    end: datetime,
    tmp: Path,
    progress: Progress | None,
    crf: int,
    preset: str,
) -> ExportResult:
    first_wall: datetime | None = None
    last_end: datetime | None = None
    frames = 0
    used = 0
    last_pts = -1
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        ost = None
        for seg in segs:
            skip_before = _first_keyframe_offset(seg, start)
            container, vs, packets = _segment_packets(root / seg.path)
            try:
                ctx = vs.codec_context
                rate = vs.average_rate or vs.guessed_rate or Fraction(25)
                frame_s = float(1 / rate)
                if ost is None:
                    ost = out.add_stream("libx264", rate=rate)
                    ost.width, ost.height = ctx.width, ctx.height
                    ost.pix_fmt = "yuv420p"
                    ost.codec_context.time_base = EXACT_TIME_BASE
                    ost.options = {"crf": str(crf), "preset": preset}
                took = False
                first_pts: int | None = None
                done = False
                for pkt, off in packets:
                    if off < skip_before - 1e-6:
                        continue
                    for frame in ctx.decode(pkt):
                        if frame.pts is None:
                            continue
                        if first_pts is None:
                            first_pts = frame.pts
                        wall = seg.start + timedelta(
                            seconds=float((frame.pts - first_pts) * vs.time_base) + skip_before
                        )
                        if wall < start:
                            continue
                        if wall >= end:
                            done = True
                            break
                        first_wall = first_wall or wall
                        _encode(out, ost, frame, wall, start, last_pts)
                        last_pts = round((wall - start).total_seconds() / EXACT_TIME_BASE)
                        last_end = wall + timedelta(seconds=frame_s)
                        frames += 1
                        took = True
                        if progress and frames % 25 == 0:
                            progress(_fraction(start, wall, end))
                    if done:
                        break
                if not done:  # frames still inside the decoder
                    for frame in ctx.decode(None):
                        if frame.pts is None or first_pts is None:
                            continue
                        wall = seg.start + timedelta(
                            seconds=float((frame.pts - first_pts) * vs.time_base) + skip_before
                        )
                        if start <= wall < end:
                            first_wall = first_wall or wall
                            _encode(out, ost, frame, wall, start, last_pts)
                            last_pts = round((wall - start).total_seconds() / EXACT_TIME_BASE)
                            last_end = wall + timedelta(seconds=frame_s)
                            frames += 1
                            took = True
                used += int(took)
            finally:
                container.close()
            if done:
                break
        if ost is not None:
            for out_pkt in ost.encode(None):
                out.mux(out_pkt)
    if first_wall is None or last_end is None:
        raise NoFootageError(f"no playable footage of camera {camera!r} in that range")
    return ExportResult(tmp, camera, "exact", (start, end), first_wall, last_end, frames, used, 0)


def _encode(out, ost, frame, wall: datetime, start: datetime, last_pts: int) -> None:  # type: ignore[no-untyped-def]
    pts = round((wall - start).total_seconds() / EXACT_TIME_BASE)
    if pts <= last_pts:
        return
    img = frame.reformat(format="yuv420p")
    img.pts = pts
    img.time_base = EXACT_TIME_BASE
    for out_pkt in ost.encode(img):
        out.mux(out_pkt)
