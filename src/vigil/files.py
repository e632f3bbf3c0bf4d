"""Small file-system helpers: writing a file so that a crash or power loss leaves the old or the
new one whole, and counting the bytes a folder takes on disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` by `data`. The temporary file is private from its creation (0600) and gets
    `mode` before it takes the name, so a secret is never readable by others, not even briefly;
    file and rename are fsynced."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power loss
    finally:
        os.close(dir_fd)


def bytes_under(root: Path, dev: int | None = None, skip: Path | None = None) -> int:
    """Bytes allocated to the files under `root` (0 when it does not exist); with `dev`, only
    those on that device (other mounts are not this disk's), `skip` and its contents left out."""
    total = 0
    stack = [Path(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if dev is not None and st.st_dev != dev:
                continue
            if entry.is_dir(follow_symlinks=False):
                if skip is None or Path(entry.path) != skip:
                    stack.append(Path(entry.path))
            else:
                total += st.st_blocks * 512
    return total
