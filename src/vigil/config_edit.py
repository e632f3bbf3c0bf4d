"""Write one camera's layout (zones, privacy masks, motion masks) into the operator's vigil.yaml,
or add a camera to it (`add_camera`, e.g. one found over ONVIF).

The file stays the one source of truth: it is edited round-trip (ruamel.yaml), so the
operator's comments, key order and other cameras are kept; the whole result is validated
with `VigilConfig` before anything is written; the write is atomic (temp file, fsync, rename)
with the previous version kept as `<file>.bak`; and a save based on an older read of the file
is refused (`StaleConfig`), so an edit made meanwhile (by hand or another admin) is never lost.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from vigil.config import (
    DEFAULT_CONFIG_PATH,
    CameraConfig,
    Point,
    VigilConfig,
    ZoneConfig,
    config_errors,
)
from vigil.errors import ConfigError, ConflictError, InputError, NotFoundError
from vigil.files import write_atomic

_write_lock = threading.Lock()  # one read-check-write at a time in this process
_ZONE_DEFAULTS = {
    name: f.get_default(call_default_factory=True)
    for name, f in ZoneConfig.model_fields.items()
    if not f.is_required()
}


class StaleConfig(ConfigError):
    """vigil.yaml changed on disk since the caller read it."""


class InvalidLayout(InputError):
    """The new layout would make vigil.yaml invalid; nothing was written."""


@dataclass(frozen=True)
class CameraLayout:
    zones: list[ZoneConfig]
    privacy_masks: list[list[Point]]
    motion_masks: list[list[Point]]

    @classmethod
    def of(cls, camera: CameraConfig) -> CameraLayout:
        return cls(list(camera.zones), list(camera.privacy_masks), list(camera.motion.masks))


@dataclass(frozen=True)
class SavedLayout:
    camera: CameraConfig  # the camera as now written, validated
    etag: str  # of the file as now written
    previous: bytes  # the file before the save (also in `<file>.bak`)


def config_file(given: Path | None) -> Path | None:
    """The file `load_config(given)` read, or None when it ran on defaults (no file)."""
    if given is not None:
        return given.resolve()
    return DEFAULT_CONFIG_PATH.resolve() if DEFAULT_CONFIG_PATH.exists() else None


def file_etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def read_etag(path: Path) -> str:
    try:
        return file_etag(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def _rounded(points: list[Point]) -> CommentedSeq:
    """A polygon as one flow-style line: [[x, y], [x, y], ...]."""
    seq = CommentedSeq()
    for x, y in points:
        pt = CommentedSeq([round(float(x), 4), round(float(y), 4)])
        pt.fa.set_flow_style()
        seq.append(pt)
    seq.fa.set_flow_style()
    return seq


def _polygons(polys: list[list[Point]]) -> CommentedSeq:
    return CommentedSeq([_rounded(p) for p in polys])


def _zones(new: list[ZoneConfig], old: Any) -> CommentedSeq:
    """Zones as block mappings; a zone whose name was already there keeps its mapping (and its
    comments); a setting left at its default is written only if the file already had it."""
    by_name = {z.get("name"): z for z in old or [] if isinstance(z, dict)}
    out = CommentedSeq()
    for zone in new:
        entry = by_name.get(zone.name)
        if entry is None:
            entry = CommentedMap()
        for key, value in zone.model_dump().items():
            if key == "polygon":
                entry[key] = _rounded(value)
            elif key in entry:
                if entry[key] != value:  # 30 stays 30, not 30.0
                    entry[key] = value
            elif _ZONE_DEFAULTS.get(key, object()) != value:
                entry[key] = value
        out.append(entry)
    return out


def _set(mapping: MutableMapping[str, Any], key: str, value: CommentedSeq) -> None:
    if value or key in mapping:  # an empty list is written only to clear an existing key
        mapping[key] = value


def _yaml_for(text: str) -> YAML:
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096  # never fold an operator's long line
    # Keep the file's list style: "  - name:" under a key (offset 2) or "- name:" (offset 0).
    first_item = re.search(r"^[A-Za-z_]\w*:[ \t]*(?:#.*)?\n(?:[ \t]*(?:#.*)?\n)*( *)- ", text, re.M)
    offset = len(first_item.group(1)) if first_item else 0
    rt.indent(mapping=2, sequence=2 + offset, offset=offset)
    return rt


def edit_layout_text(text: str, camera: str, layout: CameraLayout) -> str:
    """`text` with the named camera's zones and masks replaced; everything else as it was."""
    rt = _yaml_for(text)
    try:
        doc = rt.load(text)
    except Exception as exc:  # ruamel raises several unrelated kinds
        raise ConfigError(f"vigil.yaml is not valid YAML: {exc}") from exc
    cams = doc.get("cameras") if isinstance(doc, dict) else None
    entry = next(
        (c for c in cams or [] if isinstance(c, dict) and c.get("name") == camera),
        None,
    )
    if entry is None:
        raise NotFoundError(
            f"camera {camera!r} is not in vigil.yaml on disk",
            hint="it was removed from the file since Vigil started; restart Vigil",
        )
    _set(entry, "zones", _zones(layout.zones, entry.get("zones")))
    _set(entry, "privacy_masks", _polygons(layout.privacy_masks))
    motion = entry.get("motion")
    if layout.motion_masks and not isinstance(motion, dict):
        motion = entry["motion"] = CommentedMap()
    if isinstance(motion, dict):
        _set(motion, "masks", _polygons(layout.motion_masks))
    out = io.StringIO()
    rt.dump(doc, out)
    return out.getvalue()


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def save_layout(path: Path, camera: str, layout: CameraLayout, etag: str) -> SavedLayout:
    """Write `layout` for `camera` into the file at `path`, if it is still the version `etag`
    names. Raises StaleConfig, InvalidLayout, NotFoundError or ConfigError; on any of them
    the file is untouched."""
    with _write_lock:
        try:
            before = path.read_bytes()
            mode = path.stat().st_mode & 0o7777
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        if file_etag(before) != etag:
            raise StaleConfig(
                f"{path.name} changed on disk since it was read",
                hint="reload the page to see the current zones and masks, then save again",
            )
        text = edit_layout_text(before.decode("utf-8"), camera, layout)
        config, data = _write_valid(path, before, mode, text)
    written = next(c for c in config.cameras if c.name == camera)
    return SavedLayout(written, file_etag(data), before)


def _write_valid(path: Path, before: bytes, mode: int, text: str) -> tuple[VigilConfig, bytes]:
    """Validate `text` as vigil.yaml, keep `before` as the backup, write `text` atomically."""
    problems = config_errors(text)
    if problems:
        raise InvalidLayout("the change would make vigil.yaml invalid: " + "; ".join(problems))
    config = VigilConfig.model_validate(yaml.safe_load(text) or {})
    data = text.encode("utf-8")
    try:
        write_atomic(backup_path(path), before, mode)
        write_atomic(path, data, mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
    return config, data


def add_camera_text(text: str, entry: dict[str, Any]) -> str:
    """`text` with one more camera at the end of `cameras:` (made if missing)."""
    rt = _yaml_for(text)
    try:
        doc = rt.load(text) if text.strip() else CommentedMap()
    except Exception as exc:  # ruamel raises several unrelated kinds
        raise ConfigError(f"vigil.yaml is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError("vigil.yaml is not a mapping of settings")
    cams = doc.get("cameras")
    if cams is None:
        cams = doc["cameras"] = CommentedSeq()
    if any(isinstance(c, dict) and c.get("name") == entry.get("name") for c in cams):
        raise ConflictError(
            f"a camera named {entry.get('name')!r} is already in vigil.yaml",
            hint="choose another name",
        )
    cams.append(_mapping(entry))
    out = io.StringIO()
    rt.dump(doc, out)
    return out.getvalue()


def _mapping(value: dict[str, Any]) -> CommentedMap:
    return CommentedMap(
        (k, _mapping(v) if isinstance(v, dict) else v) for k, v in value.items()
    )


def add_camera(path: Path, entry: dict[str, Any]) -> SavedLayout:
    """Append the camera `entry` (a `cameras:` item, as plain data) to the file at `path`:
    round-trip, validated, atomic, the previous version kept as `<file>.bak`. Raises
    ConflictError (name taken), InvalidLayout or ConfigError; on any of them the file is
    untouched."""
    with _write_lock:
        try:
            before = path.read_bytes()
            mode = path.stat().st_mode & 0o7777
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        text = add_camera_text(before.decode("utf-8"), entry)
        config, data = _write_valid(path, before, mode, text)
    written = next(c for c in config.cameras if c.name == entry["name"])
    return SavedLayout(written, file_etag(data), before)


def restore(path: Path, previous: bytes) -> None:
    """Put back the version a save replaced (when what followed the save failed)."""
    with _write_lock:
        write_atomic(path, previous, path.stat().st_mode & 0o7777)
