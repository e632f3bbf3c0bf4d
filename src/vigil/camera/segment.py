"""One recording segment: a fragmented MP4 written by stream copy, and its index row.

The file is opened by Python (unbuffered) and handed to PyAV, so every fragment FFmpeg
flushes (one per keyframe, `frag_keyframe`) is in the OS at once: after `kill -9` the file
plays up to its last fragment. The moov is written first (`empty_moov`), with the exact
wall-clock start in its metadata, so even a file without an index row can be re-indexed.
Write failures (disk full, folder gone, permissions) surface as `StorageError`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import av.error

from vigil.camera.checksum import MISSING, StreamHash, file_sha256, record_problem
from vigil.camera.index import (
    add_segment,
    delete_segment_row,
    probe_segment,
    segment_relpath,
    start_comment,
    trim_to_last_fragment,
    update_segment,
)
from vigil.store.db import Database

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# FFmpeg's write buffer for a segment. Every packet still ends at a flush point, so a fragment
# reaches the file as soon as it is complete; the size only sets how many Python write calls
# (each a GIL round trip from inside the muxer and a copy) a fragment takes: a 2 s 1080p
# fragment (~1 MB) goes in 4 instead of 32 (FFmpeg's 32 KiB default).
IO_BUFFER = 256 * 1024


class WholeWrites:
    """The segment file as PyAV sees it: a write either lands whole or raises. A raw file may
    write part of a chunk (the disk filled mid-write) and PyAV takes the count as success, so
    the rest of the fragment would be lost unseen; here the next write raises (ENOSPC) while
    muxing, and recording stops with a clear error."""

    def __init__(self, raw: IO[bytes], digest: StreamHash | None = None) -> None:
        self.raw = raw
        self.tell = raw.tell
        self.digest = digest  # fed with every write: the checksum costs no re-read
        self._pos = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._pos = self.raw.seek(offset, whence)
        return self._pos

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        done = self.raw.write(view) or 0
        while done < len(view):
            step = self.raw.write(view[done:])
            if not step:
                raise OSError(errno.ENOSPC, "No space left on device")
            done += step
        if self.digest is not None:
            self.digest.wrote(self._pos, view)
        self._pos += done
        return done


class StorageError(Exception):
    """Recording cannot write its files; `str()` is a sentence for a person."""


def describe_storage_error(exc: BaseException, path: Path | None = None) -> str:
    where = f" ({path})" if path else ""
    err = getattr(exc, "errno", None)
    cause = exc.__cause__ or exc.__context__
    if err is None and cause is not None:
        err = getattr(cause, "errno", None)
    if err == errno.ENOSPC:
        return f"disk full: cannot write recordings{where}"
    if err in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"recordings folder is not writable{where}"
    if err in (errno.ENOTDIR, errno.EEXIST):
        return f"cannot create the recordings folder: a file is in the way{where}"
    if err == errno.EDQUOT:
        return f"disk quota exceeded{where}"
    text = getattr(exc, "strerror", None) or str(exc)
    return f"cannot write recordings: {text}{where}"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class SegmentInfo:
    """A finished segment, as handed to `on_segment` listeners."""

    camera: str
    segment_id: int | None
    path: Path
    relpath: str
    start: datetime
    end: datetime
    size: int
    keyframes: list[float] = field(default_factory=list)
    complete: bool = True
    sha256: str | None = None


class SegmentWriter:
    """Writes packets of one video stream into one segment file and keeps its row current."""

    def __init__(
        self,
        root: Path,
        camera: str,
        start: datetime,
        template: Any,  # what `_open_muxer` takes the stream from (PyAV: a VideoStream)
        *,
        db: Database | None,
        fsync_on_close: bool = True,
        fsync_interval_s: float | None = None,
    ) -> None:
        self.root = root
        self.camera = camera
        self.start = start
        self.db = db
        self.fsync_on_close = fsync_on_close
        self.fsync_interval_s = fsync_interval_s
        self._last_fsync = time.monotonic()
        self.keyframes: list[float] = []
        self.packets = 0
        self.dts_fixed = 0  # packets whose dts went back and were placed after the last one
        self.durable_s = 0.0  # footage known to be in the file (up to the last fragment)
        self.end_s = 0.0  # end of the last packet written
        self.segment_id: int | None = None
        self._frame_s = 0.0
        self._base_dts: int | None = None
        self._first_s: float | None = None
        self._last_dts: int | None = None
        self._last_checkpoint = time.monotonic()
        self._file: IO[bytes] | None = None
        self._out: av.container.OutputContainer | None = None
        self._digest = StreamHash()
        self.sha256: str | None = None  # set when the file is closed
        self.relpath, self.path, self._file = self._create_file()
        try:
            self._open_muxer(
                template, WholeWrites(self._file, self._digest), start_comment(camera, start)
            )
        except BaseException:
            self._discard()
            raise
        if db is not None:
            try:
                self.segment_id = add_segment(db, camera, start, self.relpath)
            except Exception:  # the file is safe; repair indexes it on next start
                log.exception("%s: could not add %s to the index", camera, self.relpath)

    def _create_file(self) -> tuple[str, Path, IO[bytes]]:
        for suffix in range(1000):
            rel = segment_relpath(self.camera, self.start, suffix)
            path = self.root / rel
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                f = open(path, "xb", buffering=0)  # noqa: SIM115 (closed in close/abort)
                if self.fsync_on_close:
                    _fsync_dir(path.parent)  # the new name survives a power loss
                return rel, path, f
            except FileExistsError:
                if path.parent.is_dir():
                    continue  # a segment started in the same second: take the next name
                raise StorageError(
                    describe_storage_error(FileExistsError(errno.EEXIST, ""), path.parent)
                ) from None
            except OSError as exc:
                raise StorageError(describe_storage_error(exc, path.parent)) from exc
        raise StorageError(f"too many segments named {rel}")

    def _open_muxer(
        self, template: av.video.stream.VideoStream, writes: WholeWrites, comment: str
    ) -> None:
        try:
            self._out = av.open(
                writes, "w", format="mp4", options={"movflags": MOVFLAGS}, buffer_size=IO_BUFFER
            )
            self._out.metadata["comment"] = comment
            self._ost = self._out.add_stream_from_template(template)
        except Exception as exc:
            raise StorageError(
                f"cannot record {template.codec_context.name} by stream copy into MP4: {exc}"
            ) from exc

    def _close_muxer(self) -> None:
        """Write the last fragment (and what the muxer keeps for the end)."""
        out, self._out = self._out, None
        if out is not None:
            out.close()

    @property
    def size(self) -> int:
        try:
            return self._file.tell() if self._file else self.path.stat().st_size
        except (OSError, ValueError):
            return 0

    def wall(self, offset_s: float) -> datetime:
        return self.start + timedelta(seconds=offset_s)

    def write(self, pkt: av.Packet, time_base: Fraction | None = None) -> None:
        """Mux one packet (its pts/dts are rebased, then left rebased). `time_base`: the
        packet's, when the caller has it already (PyAV builds a new Fraction on each read).

        Runs for every packet of every camera: seconds are `ticks * num / den` (exact ints,
        one correctly rounded division: the same float as `float(ticks * time_base)`, without
        Fraction arithmetic), and each packet property is read once."""
        out = self._out
        assert out is not None
        tb = time_base if time_base is not None else pkt.time_base
        num, den = tb.numerator, tb.denominator
        pts, dts = pkt.pts, pkt.dts
        assert pts is not None and dts is not None, "the recorder writes stamped packets only"
        last = self._last_dts
        base = self._base_dts
        if base is None:
            base = self._base_dts = dts
            self._first_s = pts * num / den
        if last is not None and dts <= last:
            # Jitter (e.g. reordering over UDP): the MP4 muxer refuses non-increasing dts, so
            # the frame goes just after the last one instead of being lost.
            self.dts_fixed += 1
            dts = last + 1
            pts = max(pts, dts)
        elif last is not None:
            self._frame_s = (dts - last) * num / den
        offset = pts * num / den - (self._first_s or 0.0)
        if pkt.is_keyframe:
            self._keyframe_at(offset)
        self._last_dts = dts
        d = pkt.duration
        end = offset + (d * num / den if d else self._frame_s)
        if end > self.end_s:
            self.end_s = end
        pkt.pts = pts - base
        pkt.dts = dts - base
        pkt.stream = self._ost
        try:
            out.mux(pkt)
        except Exception as exc:
            raise StorageError(describe_storage_error(exc, self.path)) from exc
        self.packets += 1

    def _keyframe_at(self, offset: float) -> None:
        """A keyframe `offset` s into the segment: muxing it flushes the fragment before it."""
        if self.packets:
            self.durable_s = max(self.durable_s, offset)
        self.keyframes.append(round(offset, 4))

    def checkpoint(self, every_s: float) -> None:
        """Every `every_s`: advance the row to the last fragment; notice a deleted file."""
        now = time.monotonic()
        if now - self._last_checkpoint < every_s:
            return
        self._last_checkpoint = now
        if self._file is not None:
            try:
                gone = os.fstat(self._file.fileno()).st_nlink == 0
            except OSError:
                gone = True
            if gone:
                raise StorageError(f"segment file was deleted while being written ({self.path})")
            if (
                self.fsync_interval_s is not None
                and now - self._last_fsync >= self.fsync_interval_s
            ):
                self._last_fsync = now
                try:
                    os.fsync(self._file.fileno())
                except OSError as exc:
                    raise StorageError(describe_storage_error(exc, self.path)) from exc
        self._save(complete=False, end_s=self.durable_s)

    def _save(self, *, complete: bool, end_s: float) -> None:
        if self.db is None or self.segment_id is None:
            return
        try:
            update_segment(
                self.db,
                self.segment_id,
                end=self.wall(end_s),
                size=self.size,
                keyframes=self.keyframes,
                complete=complete,
                sha256=self.sha256 if complete else None,
            )
        except Exception:
            log.exception("%s: could not update the index row of %s", self.camera, self.relpath)

    def close(self) -> SegmentInfo | None:
        """Finish the file (last fragment), fsync it, mark the row complete. None when
        nothing playable is left (the file was deleted, or held no frame)."""
        error: BaseException | None = None
        try:
            self._close_muxer()
        except Exception as exc:
            error = exc
        size = self.size
        if self._file is not None:
            try:
                if self.fsync_on_close:
                    os.fsync(self._file.fileno())
                size = self._file.tell()
            except (OSError, ValueError) as exc:
                error = error or exc
            finally:
                self._file.close()
                self._file = None
        if error is not None or not self.path.exists():
            return self._settle_after_failure(error)
        self.sha256 = self._digest.hexdigest(size) or self._hash_file()
        self._save(complete=True, end_s=self.end_s)
        return self._info(self.end_s, size)

    def _hash_file(self) -> str | None:
        """The checksum read back from the file: only when the running one cannot be used
        (the file was cut after a failure, or the muxer rewrote bytes it had written)."""
        try:
            return file_sha256(self.path)
        except OSError as exc:
            log.warning("%s: cannot hash %s: %s", self.camera, self.relpath, exc)
            return None

    def abort(self) -> SegmentInfo | None:
        """Close after a failure: keep what is playable, index it as it really is."""
        with contextlib.suppress(Exception):
            self._close_muxer()
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        return self._settle_after_failure(None)

    def _settle_after_failure(self, error: BaseException | None) -> SegmentInfo | None:
        if error is not None:
            log.warning("%s: finishing %s failed: %s", self.camera, self.relpath, error)
        if not self.path.exists():
            if self.db is not None and self.segment_id is not None:
                try:
                    if self.durable_s > 0:  # footage that was on disk is gone: keep a record
                        record_problem(
                            self.db,
                            camera=self.camera,
                            path=self.relpath,
                            start=self.start,
                            end=self.wall(self.durable_s),
                            kind=MISSING,
                            detail="deleted while it was being written",
                            found_by="recorder",
                        )
                    delete_segment_row(self.db, self.segment_id)
                except Exception:
                    log.exception("%s: could not remove the row of %s", self.camera, self.relpath)
            return None
        if trimmed := trim_to_last_fragment(self.path):
            log.info(
                "%s: cut %d bytes of a torn fragment off %s", self.camera, trimmed, self.relpath
            )
        probe = probe_segment(self.path)
        if probe.packets == 0:
            self._discard()
            return None
        self.keyframes = probe.keyframes
        self.sha256 = self._digest.hexdigest(probe.size) or self._hash_file()
        self._save(complete=True, end_s=probe.duration)
        return self._info(probe.duration, probe.size)

    def _discard(self) -> None:
        """Remove a file that holds no frame, and its row."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
        if self.db is not None and self.segment_id is not None:
            try:
                delete_segment_row(self.db, self.segment_id)
            except Exception:
                log.exception("%s: could not remove the row of %s", self.camera, self.relpath)
            self.segment_id = None

    def _info(self, end_s: float, size: int) -> SegmentInfo:
        return SegmentInfo(
            camera=self.camera,
            segment_id=self.segment_id,
            path=self.path,
            relpath=self.relpath,
            start=self.start,
            end=self.wall(end_s),
            size=size,
            keyframes=list(self.keyframes),
            sha256=self.sha256,
        )
