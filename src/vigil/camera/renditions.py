"""Copies made from recorded segments (the pixelated renditions of `privacy.protected_cache`),
kept under `<data_dir>/cache/protected/<camera>/<segment id>[-open][-from<s>].mp4`.

They go with their footage: `sweep_protected` removes renditions older than CACHE_KEEP_S or
the camera's footage retention, whichever is sooner, those whose segment is gone from the
index, and `.part` files left by a crash; camera retention runs it right after deleting
segments. It lives here, below `privacy`, so that retention needs nothing above `camera`
(docs/architecture.md); `privacy.protected_cache` makes the files and re-exports these names.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select

from vigil.store.db import Database
from vigil.store.models.camera import Segment

log = logging.getLogger(__name__)

CACHE_KEEP_S = 24 * 3600.0  # renditions are kept at most this long (less with short retention)
STALE_PART_S = 3600.0  # a .part untouched this long is left over from a crash


def cache_root(data_dir: Path) -> Path:
    return data_dir / "cache" / "protected"


def _segment_id(name: str) -> int | None:
    stem = name.removesuffix(".mp4").split("-")[0]
    return int(stem) if stem.isdigit() else None


def sweep_protected(
    db: Database,
    data_dir: Path,
    retention_days: Mapping[str, float],
    *,
    now: float | None = None,
    default_days: float = 30.0,
) -> int:
    """Remove renditions past min(CACHE_KEEP_S, the camera's retention) or whose segment is no
    longer indexed, and stale part files; returns how many files were removed."""
    root = cache_root(data_dir)
    if not root.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        keep_s = min(CACHE_KEEP_S, retention_days.get(folder.name, default_days) * 86400.0)
        with db.session() as s:
            ids = set(s.scalars(select(Segment.id).where(Segment.camera == folder.name)))
        for f in folder.iterdir():
            try:
                age = now - f.stat().st_mtime
            except FileNotFoundError:
                continue
            if f.name.endswith(".part"):
                gone = age > min(keep_s, STALE_PART_S)
            else:
                seg = _segment_id(f.name)
                gone = seg is None or seg not in ids or age > keep_s
            if gone:
                f.unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("protected view: %d cached rendition(s) removed", removed)
    return removed
