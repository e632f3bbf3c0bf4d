"""Export bundles: one ZIP with the exported files and their signed `manifest.json`.

A browser downloads one file, and the manifest cannot get separated from the clip it vouches
for. Files are stored uncompressed (video does not compress), so a bundle is written fast.

`verify_export` checks what an export left behind, whatever its shape: a manifest file, a
signed file with its `<file>.manifest.json` beside it (`vigil export`, `vigil privacy sar`), a
folder holding manifests, or a bundle ZIP (unpacked into a temporary folder, then checked
with the same `verify_manifest`; a file in the ZIP that no manifest covers is a problem too).
A ZIP may come from anyone: names that leave the folder, repeated names, too many files,
declared sizes past a cap or the free disk, and members compressed like a zip bomb are
refused before anything is written, and unpacking counts bytes as it goes.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from vigil.errors import InputError
from vigil.privacy import keys
from vigil.privacy.manifest import SUFFIX, ManifestCheck, manifest_path, verify_manifest

MANIFEST_NAME = "manifest.json"
# Limits for unpacking a ZIP that may come from anywhere (a zip bomb must not fill the disk).
MAX_UNPACKED_BYTES = 64 * 2**30  # a 6 h 1080p export is ~11 GiB
MAX_MEMBERS = 1000
MAX_RATIO = 100  # bundles are stored, not deflated: ~1x; deflate's best is ~1000x
RATIO_FROM_BYTES = 2**20  # small files (a manifest) may compress well
KEEP_FREE_BYTES = 256 * 2**20
CHUNK = 2**20


class UnsafeArchive(InputError):
    """A ZIP refused before or while unpacking it: exits like a failed check (4)."""

    exit_code = 4


def write_bundle(out: Path, files: list[Path], manifest: Path) -> Path:
    """Write `out` (.zip): `files` by their names and `manifest` as `manifest.json`."""
    tmp = out.with_name(f".{out.name}.part")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
            for f in files:
                z.write(f, f.name)
            z.write(manifest, MANIFEST_NAME)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def is_manifest(path: Path) -> bool:
    return path.name == MANIFEST_NAME or path.name.endswith(SUFFIX)


def verify_export(
    path: Path,
    *,
    data_dir: Path | None = None,
    key: keys.VerifyKey | None = None,
    max_bytes: int = MAX_UNPACKED_BYTES,
    scratch: Path | None = None,
) -> list[ManifestCheck]:
    """Verify every manifest in `path` (a manifest, a folder or a bundle ZIP). A ZIP is
    unpacked into a temporary folder only after its names, declared sizes (at most
    `max_bytes` in all, and room on the disk) and compression ratios pass; `UnsafeArchive`
    otherwise. It is unpacked under `scratch` (the site's `<data_dir>/tmp`; default: Python's
    temporary folder, which `vigil serve`/`vigil api` point there too)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and is_manifest(p))
        if not found:
            raise InputError(f"no export manifest (*{SUFFIX} or {MANIFEST_NAME}) in {path}")
        return [verify_manifest(m, data_dir=data_dir, key=key) for m in found]
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    beside = manifest_path(path)  # `vigil export`/`privacy sar` sign a file from beside it
    if beside.is_file():
        return [verify_manifest(beside, data_dir=data_dir, key=key)]
    if zipfile.is_zipfile(path) and not is_manifest(path):
        return _verify_zip(path, data_dir=data_dir, key=key, max_bytes=max_bytes, scratch=scratch)
    return [verify_manifest(path, data_dir=data_dir, key=key)]


def _verify_zip(
    path: Path,
    *,
    data_dir: Path | None,
    key: keys.VerifyKey | None,
    max_bytes: int,
    scratch: Path | None = None,
) -> list[ManifestCheck]:
    try:
        with zipfile.ZipFile(path) as z:
            members = [i for i in z.infolist() if not i.is_dir()]
            names = [i.filename for i in members]
            _check_members(path, members, max_bytes)
            with tempfile.TemporaryDirectory(prefix="vigil-verify-", dir=scratch) as tmp:
                root = Path(tmp)
                _check_room(path, root, sum(i.file_size for i in members))
                _unpack(path, z, members, root, max_bytes)
                manifests = [n for n in names if is_manifest(Path(n))]
                if not manifests:
                    raise InputError(f"{path} holds no export manifest ({MANIFEST_NAME})")
                checks = []
                covered: set[str] = set(manifests)
                for name in manifests:
                    check = verify_manifest(root / name, data_dir=data_dir, key=key)
                    base = PurePosixPath(name).parent
                    for entry in check.doc.get("files", []):
                        covered.add(str(base / str(entry.get("name", ""))))
                    check.path = path / name  # shown as <zip>/manifest.json
                    checks.append(check)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
        raise InputError(f"{path} is not a readable ZIP: {exc}") from exc
    extra = sorted(set(names) - covered)
    if extra:
        checks[0].problems.append("not covered by any manifest: " + ", ".join(extra))
    return checks


def _check_members(path: Path, members: list[zipfile.ZipInfo], max_bytes: int) -> None:
    """Refuse, before anything is written, what no export of ours looks like."""
    if len(members) > MAX_MEMBERS:
        raise UnsafeArchive(f"{path}: {len(members)} files (an export holds at most {MAX_MEMBERS})")
    seen: set[str] = set()
    for info in members:
        name = info.filename
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts or "\\" in name or "\0" in name:
            raise UnsafeArchive(f"{path}: member {name!r} points outside the archive")
        if name in seen:
            raise UnsafeArchive(f"{path}: member {name!r} appears twice")
        seen.add(name)
        big = info.file_size > RATIO_FROM_BYTES
        if big and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UnsafeArchive(
                f"{path}: member {name!r} unpacks {info.file_size / max(info.compress_size, 1):.0f}"
                f" times larger than stored (a zip bomb?); exports are stored uncompressed"
            )
    total = sum(i.file_size for i in members)
    if total > max_bytes:
        raise UnsafeArchive(
            f"{path}: unpacks to {_size(total)}, more than the {_size(max_bytes)} allowed"
        )


def _check_room(path: Path, root: Path, total: int) -> None:
    free = shutil.disk_usage(root).free
    if total + KEEP_FREE_BYTES > free:
        raise UnsafeArchive(
            f"{path}: unpacking needs {_size(total)}, only {_size(free)} is free in {root.parent}",
            hint="set TMPDIR to a folder on a larger disk",
        )


def _unpack(
    path: Path, z: zipfile.ZipFile, members: list[zipfile.ZipInfo], root: Path, max_bytes: int
) -> None:
    """Extract with a running count: a member that unpacks past its declared size or past
    `max_bytes` in all stops the unpacking (declared sizes can lie)."""
    total = 0
    base = root.resolve()
    for info in members:
        dest = (root / info.filename).resolve()
        if not dest.is_relative_to(base):
            raise UnsafeArchive(f"{path}: member {info.filename!r} points outside the archive")
        dest.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with z.open(info) as src, dest.open("wb") as out:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                total += len(chunk)
                if written > info.file_size or total > max_bytes:
                    raise UnsafeArchive(
                        f"{path}: member {info.filename!r} unpacks to more than its declared "
                        f"{_size(info.file_size)} (stopped at {_size(total)} in all)"
                    )
                out.write(chunk)


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 2**20:.1f} MiB"
