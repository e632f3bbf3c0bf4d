"""Temporary files under `<data_dir>/tmp`, with a cap, never in the system temporary folder.

Uploads (the multipart parser spools them), export jobs, clips fetched for the hub and unpacked
ZIPs are temporary. Left in the system temporary folder they land, unseen and uncapped, on
whatever disk that is -- often the recordings disk, where they once made retention delete the
footage it keeps. Here they live under `<data_dir>/tmp/p<pid>/` (one folder a process, so a
starting process can tell another's live files from a dead one's leftovers), their total is
capped by `storage.tmp_max_gb`, and on the recordings filesystem they never take the free
space below `recording.min_free_gb`. `install` points Python's default temporary folder
(`tempfile.tempdir`) there, so libraries that spool (Starlette's UploadFile) follow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import VigilError
from vigil.files import bytes_under

log = logging.getLogger(__name__)

TMP = "tmp"
RECORDINGS = "recordings"  # the footage, `<data_dir>/recordings/<camera>/<day>/` (camera.index)
GB = 1_000_000_000
STALE_S = 3600.0  # an entry of tmp/ outside any process folder, untouched this long, is left over


def recordings_dir(data_dir: Path) -> Path:
    """Where the footage lives; here, not in `camera`, so that the base layer needs nothing above
    it (docs/architecture.md)."""
    return Path(data_dir) / RECORDINGS


class TmpFull(VigilError):
    """Temporary space is used up (its cap, or the disk's free space): refuse the work."""

    exit_code = 5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class TmpSpace:
    """The temporary space of one data_dir: `<data_dir>/tmp`, at most `max_bytes` in all."""

    data_dir: Path
    max_bytes: int
    keep_free_bytes: int = 0  # free space left on the recordings filesystem, if tmp is on it

    @classmethod
    def from_config(cls, config: object) -> TmpSpace:
        """From a `VigilConfig` (storage.data_dir, storage.tmp_max_gb, recording.min_free_gb)."""
        storage = config.storage  # type: ignore[attr-defined]
        recording = config.recording  # type: ignore[attr-defined]
        return cls(
            Path(storage.data_dir),
            int(storage.tmp_max_gb * GB),
            int(recording.min_free_gb * GB),
        )

    @property
    def root(self) -> Path:
        return Path(self.data_dir) / TMP

    def folder(self) -> Path:
        """This process's folder (created, private)."""
        path = self.root / f"p{os.getpid()}"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def used(self) -> int:
        return bytes_under(self.root)

    def _on_recordings_fs(self) -> bool:
        rec = recordings_dir(self.data_dir)
        try:
            return os.stat(self.root).st_dev == os.stat(rec).st_dev
        except OSError:  # no recordings folder yet: it will be made under data_dir
            return True

    def check(self, need: int = 0, what: str = "this") -> None:
        """Raise `TmpFull` unless `need` more bytes fit under the cap and, on the recordings
        filesystem, leave `keep_free_bytes` free."""
        self.root.mkdir(parents=True, exist_ok=True)
        used = self.used()
        if used + need > self.max_bytes:
            raise TmpFull(
                f"no temporary space for {what}: {used / 1e6:.1f} MB of the "
                f"{self.max_bytes / 1e6:.1f} MB allowed under {self.root} are in use"
                + (f" and {need / 1e6:.1f} MB more are needed" if need else ""),
                hint="try again when running exports or uploads have finished, "
                "or raise storage.tmp_max_gb",
            )
        free = shutil.disk_usage(self.root).free
        keep = self.keep_free_bytes if self._on_recordings_fs() else 0
        if free - need < keep:
            raise TmpFull(
                f"no temporary space for {what}: the disk has {free / 1e6:.1f} MB free"
                + (f", {need / 1e6:.1f} MB are needed" if need else "")
                + (f" and {keep / 1e6:.1f} MB stay free for recording" if keep else ""),
                hint="free disk space first",
            )

    def mkdtemp(self, prefix: str = "", need: int = 0, what: str = "this") -> Path:
        """A new private folder under this process's temporary folder (after `check`)."""
        self.check(need, what)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.folder()))

    @contextlib.contextmanager
    def temporary_dir(self, prefix: str = "", need: int = 0, what: str = "this") -> Iterator[Path]:
        """`mkdtemp`, removed with everything in it on leaving the block."""
        path = self.mkdtemp(prefix, need, what)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def install(self) -> str | None:
        """Make this process's folder Python's default temporary folder (what `tempfile`
        and the libraries using it, Starlette's upload spooling included, write into).
        Returns the previous setting for `uninstall`."""
        previous = tempfile.tempdir
        tempfile.tempdir = str(self.folder())
        return previous

    def uninstall(self, previous: str | None) -> None:
        if tempfile.tempdir == str(Path(self.root) / f"p{os.getpid()}"):
            tempfile.tempdir = previous

    def clean(self) -> int:
        """Remove what earlier processes left: folders of processes no longer running, and
        other entries untouched for an hour. Returns how many entries were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        cutoff = time.time() - STALE_S
        for entry in self.root.iterdir():
            name = entry.name
            if name.startswith("p") and name[1:].isdigit():
                pid = int(name[1:])
                if pid == os.getpid() or _alive(pid):
                    continue
            else:
                try:
                    if entry.lstat().st_mtime >= cutoff:
                        continue
                except OSError:
                    continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("removed %d leftover temporary file(s)/folder(s) from %s", removed, self.root)
        return removed
