"""Clip export: one MP4 for a camera and a wall-clock range, across segment boundaries.

- remux (default): packets are copied; the clip starts at the keyframe at or before the
  requested start (so it may begin up to one keyframe interval early) and ends at the last
  frame before the requested end. Fast: no decoding.
- exact: frames are decoded from that keyframe and only those inside [start, end) are
  re-encoded with libx264, so the clip matches the request to the frame.

The clip's timeline is the wall clock: t=0 is the first frame's time, and a gap in the
footage stays a gap in time (the player holds the last frame) and is listed in the result.

Nothing is returned short without saying so: each segment read is checked against the
SHA-256 taken when it closed (a mismatch is recorded as damaged footage, `camera.checksum`),
the gaps are measured on the frames really written (so footage a damaged file no longer
yields is a gap too), and `ExportResult.account()` states gaps, damaged and missing segments
for the manifest and `warnings()` for people.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import NoReturn

import av
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream

from vigil.camera.checksum import (
    DAMAGED,
    MISSING,
    Problem,
    check_file,
    list_problems,
    record_problem,
)
from vigil.camera.index import coverage, recordings_dir, segments_between
from vigil.camera.timebase import stream_time_base
from vigil.errors import InputError, NotFoundError, VigilError
from vigil.store.db import Database
from vigil.store.models.camera import Segment

log = logging.getLogger(__name__)

Progress = Callable[[float], None]  # fraction done, 0..1
EXACT_TIME_BASE = Fraction(1, 1000)
GAP_TOLERANCE_S = 0.5  # a hole in the clip shorter than this is not a gap (as `coverage`)
# at the range's ends: people ask in whole seconds (CLI, web UI), so a range that starts or
# ends less than a second beyond the footage asked for all there was
EDGE_TOLERANCE_S = 1.0


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
    # segments in the range that are damaged (checksum differs, or unreadable) or missing
    # (file gone): {"segment", "from", "to", "problem"}
    damaged: list[dict[str, str]] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)
    unverified: int = 0  # segments read that had no checksum (recorded before checksums)
    covered: list[tuple[datetime, datetime]] = field(default_factory=list)  # frames written

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def complete(self) -> bool:
        """The clip holds all of the range asked for, from intact segments."""
        return not (self.gaps or self.damaged or self.missing)

    def account(self) -> dict[str, object]:
        """What the clip holds of the range asked for: for the signed manifest."""
        a, b = self.requested
        footage = sum((min(y, b) - max(x, a)).total_seconds() for x, y in self.covered if y > a)
        return {
            "requested_from": _iso(a),
            "requested_to": _iso(b),
            "requested_s": round((b - a).total_seconds(), 3),
            "footage_s": round(max(0.0, footage), 3),
            "complete": self.complete,
            "gaps": [
                {"from": _iso(x), "to": _iso(y), "seconds": round((y - x).total_seconds(), 3)}
                for x, y in self.gaps
            ],
            "damaged_segments": self.damaged,
            "missing_segments": self.missing,
            "unverified_segments": self.unverified,
        }

    def warnings(self) -> list[str]:
        """One sentence per gap, damaged or missing segment."""
        out = [
            f"gap: no footage {x:%Y-%m-%d %H:%M:%S} .. {y:%H:%M:%S} UTC "
            f"({(y - x).total_seconds():.1f} s)"
            for x, y in self.gaps
        ]
        out += [f"damaged: segment {d['segment']} ({d['problem']})" for d in self.damaged]
        out += [f"missing: segment {d['segment']} ({d['problem']})" for d in self.missing]
        return out


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


class _Covered:
    """The wall-clock spans the frames written cover (touching frames merged).

    A frame counts for one frame interval (the shortest step between frames seen), not for
    its stored duration: the frame before a hole in a file lasts until the next one, and
    would otherwise hide the hole."""

    def __init__(self) -> None:
        self.spans: list[tuple[datetime, datetime]] = []
        self._last: datetime | None = None
        self._step: float | None = None  # shortest positive step between frames

    def add(self, a: datetime, duration_s: float) -> None:
        if self._last is not None:
            step = (a - self._last).total_seconds()
            if step > 1e-4 and (self._step is None or step < self._step):
                self._step = step
        self._last = a
        d = duration_s if duration_s > 0 else (self._step or 0.0)
        if self._step is not None:
            d = min(d, self._step)
        b = a + timedelta(seconds=d)
        tol = timedelta(seconds=GAP_TOLERANCE_S)
        if self.spans and a <= self.spans[-1][1] + tol:
            self.spans[-1] = (self.spans[-1][0], max(self.spans[-1][1], b))
        else:
            self.spans.append((a, b))

    def gaps(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Holes of at least GAP_TOLERANCE_S in [start, end) between spans, and of at least
        EDGE_TOLERANCE_S before the first and after the last."""
        tol = timedelta(seconds=GAP_TOLERANCE_S)
        edge = timedelta(seconds=EDGE_TOLERANCE_S)
        out = []
        at = start
        for a, b in self.spans:
            if a > at + (edge if at == start else tol) and a > start:
                out.append((at, min(a, end)))
            at = max(at, b)
        if end > at + edge:
            out.append((at, end))
        return [(a, b) for a, b in out if b > a]


def _problem_entry(seg: Segment | Problem, problem: str) -> dict[str, str]:
    return {
        "segment": str(seg.path),
        "from": _iso(seg.start),
        "to": _iso(seg.end),
        "problem": problem,
    }


def _check_segments(
    db: Database, root: Path, camera: str, start: datetime, end: datetime
) -> tuple[list[Segment], list[dict[str, str]], list[dict[str, str]], int]:
    """The segments to read, and those damaged or missing in the range (recorded as such),
    and how many of those read had no checksum to check."""
    segs: list[Segment] = []
    damaged: dict[str, dict[str, str]] = {}
    missing: dict[str, dict[str, str]] = {}
    unverified = 0
    for seg in segments_between(db, camera, start, end):
        path = root / seg.path
        if not path.is_file():
            missing[seg.path] = _problem_entry(seg, "the file is gone")
            record_problem(
                db, camera=camera, path=seg.path, start=seg.start, end=seg.end, kind=MISSING,
                detail="the file is gone", found_by="export",
            )  # fmt: skip
            continue
        segs.append(seg)
        if not seg.complete:
            continue  # being written: no checksum yet
        if seg.sha256 is None:
            unverified += 1
            continue
        problem = check_file(path, seg.sha256)
        if problem is not None:
            log.error("export: segment %s is damaged: %s", seg.path, problem)
            damaged[seg.path] = _problem_entry(seg, problem)
            record_problem(
                db, camera=camera, path=seg.path, start=seg.start, end=seg.end, kind=DAMAGED,
                detail=problem, found_by="export",
            )  # fmt: skip
    for p in list_problems(db, camera=camera, start=start, end=end, include_acknowledged=True):
        into = damaged if p.kind == DAMAGED else missing
        into.setdefault(p.path, _problem_entry(p, p.detail or p.kind))
    return segs, list(damaged.values()), list(missing.values()), unverified


def _usable_segments(
    db: Database, data_dir: Path, camera: str, start: datetime, end: datetime
) -> tuple[list[Segment], list[dict[str, str]], list[dict[str, str]], int]:
    if end <= start:
        raise InputError(f"the range ends before it starts ({_fmt(start)} .. {_fmt(end)})")
    root = recordings_dir(data_dir)
    segs, damaged, missing, unverified = _check_segments(db, root, camera, start, end)
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
    return segs, damaged, missing, unverified


def _first_keyframe_offset(seg: Segment, start: datetime) -> float:
    """Offset in the segment of the keyframe at or before `start` (0 if start is earlier)."""
    want = (start - seg.start).total_seconds()
    best = 0.0
    for k in seg.keyframes or [0.0]:
        if k <= want + 1e-6:
            best = max(best, k)
    return best


def _open_segment(
    root: Path, seg: Segment, unreadable: list[dict[str, str]]
) -> _SegmentPackets | None:
    """`_segment_packets` of a segment, or None (noted in `unreadable`) when its file cannot
    be opened as video (damaged header)."""
    try:
        return _segment_packets(root / seg.path)
    except (av.error.FFmpegError, IndexError) as exc:
        log.error("export: cannot read segment %s: %s", seg.path, exc)
        why = getattr(exc, "strerror", None) or type(exc).__name__  # no server paths
        unreadable.append(_problem_entry(seg, f"cannot be read ({why})"))
        return None


_SegmentPackets = tuple[InputContainer, VideoStream, Iterator[tuple[av.Packet, float]]]


def _segment_packets(path: Path) -> _SegmentPackets:
    """(container, stream, iterator of (packet, offset seconds)) for a segment file."""
    container = av.open(str(path))
    vs = container.streams.video[0]
    tb = stream_time_base(vs)

    def gen() -> Iterator[tuple[av.Packet, float]]:
        first: int | None = None
        try:
            for pkt in container.demux(vs):
                if pkt.size == 0 or pkt.dts is None:
                    continue
                pts = pkt.pts if pkt.pts is not None else pkt.dts
                if first is None:
                    first = pts
                yield pkt, float((pts - first) * tb)
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
    segs, damaged, missing, unverified = _usable_segments(db, data_dir, camera, start, end)
    root = recordings_dir(data_dir)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.part")
    covered = _Covered()
    unreadable: list[dict[str, str]] = []
    try:
        if exact:
            result = _export_exact(
                segs, root, camera, start, end, tmp, progress, crf, preset, covered, unreadable
            )
        else:
            result = _export_remux(
                segs, root, camera, start, end, tmp, progress, covered, unreadable
            )
        tmp.replace(out_path)
    except VigilError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise VigilError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    except av.error.FFmpegError as exc:
        tmp.unlink(missing_ok=True)
        log.warning("export of %s failed", camera, exc_info=True)
        raise VigilError(
            f"the export of {camera} failed while encoding or writing the clip: {exc}",
            hint="the footage may be damaged: `vigil segments problems` lists what is known",
        ) from exc
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    result.path = out_path
    result.size = out_path.stat().st_size
    result.covered = covered.spans
    result.gaps = covered.gaps(start, end)
    known = {d["segment"] for d in damaged}
    result.damaged = damaged + [u for u in unreadable if u["segment"] not in known]
    result.missing = missing
    result.unverified = unverified
    if progress:
        progress(1.0)
    return result


def _check_same_stream(first: VideoStream, vs: VideoStream, seg: Segment) -> None:
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
    covered: _Covered,
    unreadable: list[dict[str, str]],
) -> ExportResult:
    origin: datetime | None = None
    last_end: datetime | None = None
    frames = 0
    last_dts: int | None = None
    used = 0
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        ost = None
        template: VideoStream | None = None
        for seg in segs:
            skip_before = _first_keyframe_offset(seg, start) if origin is None else None
            opened = _open_segment(root, seg, unreadable)
            if opened is None:
                continue
            container, vs, packets = opened
            frame_s = 0.0
            try:
                if ost is None:
                    ost = out.add_stream_from_template(vs)
                    template = vs
                else:
                    assert template is not None, "set with ost"
                    _check_same_stream(template, vs, seg)
                tb = stream_time_base(vs)
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
                    pts, dts = pkt.pts, pkt.dts
                    assert dts is not None, "_segment_packets yields packets with a dts"
                    if pts is None:
                        pts = dts  # where _segment_packets placed it
                    shift = round((wall - origin).total_seconds() / tb) - pts
                    pts += shift
                    dts += shift
                    if last_dts is not None and dts <= last_dts:
                        dts = last_dts + 1
                        pts = max(pts, dts)
                    pkt.pts, pkt.dts = pts, dts
                    last_dts = dts
                    frame_s = float(pkt.duration * tb) if pkt.duration else frame_s
                    last_end = wall + timedelta(seconds=frame_s)
                    covered.add(wall, frame_s)
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
        _nothing_played(camera, unreadable)
    return ExportResult(tmp, camera, "remux", (start, end), origin, last_end, frames, used, 0)


def _nothing_played(camera: str, unreadable: list[dict[str, str]]) -> NoReturn:
    if unreadable:
        first = unreadable[0]
        raise NoFootageError(
            f"the footage of camera {camera!r} in that range cannot be read: "
            f"{len(unreadable)} segment(s) damaged ({first['segment']}: {first['problem']})",
            hint="`vigil segments problems` lists lost footage",
        )
    raise NoFootageError(f"no playable footage of camera {camera!r} in that range")


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
    covered: _Covered,
    unreadable: list[dict[str, str]],
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
            opened = _open_segment(root, seg, unreadable)
            if opened is None:
                continue
            container, vs, packets = opened
            try:
                ctx = vs.codec_context
                tb = stream_time_base(vs)
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
                            seconds=float((frame.pts - first_pts) * tb) + skip_before
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
                        covered.add(wall, 0.0)
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
                            seconds=float((frame.pts - first_pts) * tb) + skip_before
                        )
                        if start <= wall < end:
                            first_wall = first_wall or wall
                            _encode(out, ost, frame, wall, start, last_pts)
                            last_pts = round((wall - start).total_seconds() / EXACT_TIME_BASE)
                            last_end = wall + timedelta(seconds=frame_s)
                            covered.add(wall, 0.0)
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
        _nothing_played(camera, unreadable)
    return ExportResult(tmp, camera, "exact", (start, end), first_wall, last_end, frames, used, 0)


def _encode(
    out: OutputContainer,
    ost: VideoStream,
    frame: av.VideoFrame,
    wall: datetime,
    start: datetime,
    last_pts: int,
) -> None:
    pts = round((wall - start).total_seconds() / EXACT_TIME_BASE)
    if pts <= last_pts:
        return
    img = frame.reformat(format="yuv420p")
    img.pts = pts
    img.time_base = EXACT_TIME_BASE
    for out_pkt in ost.encode(img):
        out.mux(out_pkt)
